import { Inject, Injectable, Logger } from '@nestjs/common';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import type { Namespace } from 'socket.io';
import { COORDINATOR_CONFIG } from '../config/config.module';
import type { CoordinatorConfig } from '../config/coordinator-config';
import { Database } from '../database/database';
import { PostgresDatabase } from '../database/postgres-database';

/** How often a replica tells the others it is alive, and after how long without that they count it gone. */
export const REPLICA_HEARTBEAT_MS = 2_000;
export const REPLICA_HEARTBEAT_TIMEOUT_MS = 6_000;
/** How long a cluster-wide query (fetchSockets) waits for the other replicas. */
export const REPLICA_REQUEST_TIMEOUT_MS = 3_000;

/**
 * Joins the socket.io namespace to the other coordinator replicas through the socket.io Postgres adapter
 * (LISTEN/NOTIFY on the coordinator's own database, payloads over 8 kB through socket_io_attachments), when
 * the configuration asks for it (COORDINATOR_REALTIME_ADAPTER, `postgres` by default on Postgres). Then
 * `nsp.emit`, room broadcasts, `fetchSockets` and `serverSideEmit` span every replica.
 */
@Injectable()
export class RealtimeCluster {
  private readonly logger = new Logger('Realtime');
  private pool?: pg.Pool;

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    private readonly db: Database,
  ) {}

  /** Whether events reach the sockets of other replicas (false: this process only). */
  get clustered(): boolean {
    return this.pool !== undefined;
  }

  attach(nsp: Namespace): void {
    if (this.config.realtime.adapter !== 'postgres') return;
    if (!(this.db instanceof PostgresDatabase)) {
      this.logger.warn('COORDINATOR_REALTIME_ADAPTER=postgres ignored: the database is not Postgres');
      return;
    }
    // Its own small pool: one connection stays in LISTEN, the others NOTIFY; the app's pool is left alone.
    this.pool = new pg.Pool({ ...this.db.pool.options, max: 4 });
    this.pool.on('error', (err) => this.logger.error(`realtime adapter pool: ${err.message}`));
    nsp.server.adapter(
      createAdapter(this.pool, {
        heartbeatInterval: REPLICA_HEARTBEAT_MS,
        heartbeatTimeout: REPLICA_HEARTBEAT_TIMEOUT_MS,
        // after close() the adapter's last messages may find the pool ended: nothing to report then
        errorHandler: (err) => {
          if (this.pool) this.logger.error(`realtime adapter: ${err.message}`);
        },
      }),
    );
    this.logger.log('socket.io events span every replica (Postgres adapter)');
  }

  async close(nsp: Namespace | undefined): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = undefined;
    // The adapter factory serves every namespace (the main one too); its LISTEN connection goes back to the
    // pool only once all of them are closed, and ending the pool waits for it.
    for (const n of new Set([nsp, nsp?.server.sockets]))
      await Promise.resolve(n?.adapter.close()).catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}
