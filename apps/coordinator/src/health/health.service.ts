import { Inject, Injectable } from '@nestjs/common';
import {
  PROTOCOL_VERSION,
  type DependencyCheck,
  type LivenessResponse,
  type ReadinessResponse,
} from '@casam/protocol';
import { BlobStore } from '../blobs/blob-store';
import { UnavailableError } from '../common/domain-error';
import { Database } from '../database/database';
import { COORDINATOR_VERSION } from '../version';

/** How long a dependency may take to answer a readiness probe before it counts as down. */
export const READINESS_TIMEOUT_MS = 2000;

@Injectable()
export class HealthService {
  private readonly startedAt = performance.now();
  private drainingSince: Date | null = null;

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(BlobStore) private readonly blobs: BlobStore,
  ) {}

  /** Liveness: the process answers. Deliberately checks nothing else, so a database outage never restarts it. */
  liveness(): LivenessResponse {
    return {
      status: 'ok',
      version: COORDINATOR_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 1000),
    };
  }

  /** From now on readiness answers 503 `draining`: the process is shutting down (it still serves meanwhile). */
  startDraining(at: Date = new Date()): void {
    this.drainingSince ??= at;
  }

  /**
   * Readiness: the database and the blob store both answer; otherwise 503 `not_ready` with the checks. While
   * shutting down, 503 `draining`, so the load balancer sends new connections elsewhere.
   */
  async readiness(): Promise<ReadinessResponse> {
    if (this.drainingSince)
      throw new UnavailableError('draining', 'shutting down: take this replica out of rotation', {
        since: this.drainingSince.toISOString(),
      });
    const [database, blobStore] = await Promise.all([
      check(() => this.db.ping()),
      check(() => this.blobs.ping()),
    ]);
    const checks = { database, blobStore };
    if (database.status === 'down' || blobStore.status === 'down') {
      const down = Object.entries(checks)
        .filter(([, c]) => c.status === 'down')
        .map(([name, c]) => `${name}: ${c.error}`);
      throw new UnavailableError('not_ready', `not ready: ${down.join('; ')}`, { checks });
    }
    return { status: 'ready', checks };
  }
}

async function check(probe: () => Promise<void>): Promise<DependencyCheck> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`)),
      READINESS_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([probe(), timeout]);
    return { status: 'up', latencyMs: Math.round(performance.now() - t0) };
  } catch (e) {
    return {
      status: 'down',
      latencyMs: Math.round(performance.now() - t0),
      error: e instanceof Error ? e.message : String(e),
    };
  } finally {
    clearTimeout(timer);
  }
}
