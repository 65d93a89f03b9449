import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CoordinatorProcess,
  runCoordinatorCli,
  startCoordinatorProcess,
} from '@casam/coordinator/testing';

const ADMIN_EMAIL = 'ops@hospital.example';

/** One coordinator replica process (`coordinator serve`) of a {@link ReplicaSet}; `stop` leaves its database. */
export interface Replica extends CoordinatorProcess {
  name: string;
}

/**
 * Coordinator replicas as an operator runs them: one shared Postgres database (`DATABASE_URL`), one shared
 * `COORDINATOR_SECRET`, blobs in Postgres, the Postgres socket.io adapter (the default on Postgres), a data
 * directory of their own each. The admin account is created once, with the CLI, before any replica starts.
 */
export class ReplicaSet {
  readonly env: NodeJS.ProcessEnv;
  private readonly password = `pw-${randomBytes(12).toString('hex')}`;
  private readonly dirs: string[] = [];

  constructor(databaseUrl: string, extraEnv: NodeJS.ProcessEnv = {}) {
    this.env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      COORDINATOR_SECRET: randomBytes(32).toString('hex'),
      COORDINATOR_BLOB_STORE: 'postgres',
      COORDINATOR_PORT: '0',
      COORDINATOR_LOG_FORMAT: 'text',
      // every test client comes from 127.0.0.1, and the buckets are shared by the replicas
      COORDINATOR_AUTH_RATE_PER_MINUTE: '1000',
      COORDINATOR_AUTH_RATE_BURST: '1000',
      ...extraEnv,
    };
  }

  /** `coordinator create-admin` on the shared database (it migrates it first). */
  async createAdmin(): Promise<void> {
    const env = { ...this.env, COORDINATOR_DATA_DIR: this.dataDir() };
    const made = await runCoordinatorCli(
      ['create-admin', '--email', ADMIN_EMAIL, '--role', 'admin'],
      env,
      `${this.password}\n`,
    );
    if (made.code !== 0) throw new Error(`create-admin failed (${made.code}):\n${made.out}`);
  }

  /** Starts a replica (with `extraEnv` on top of the shared environment) and resolves once it listens. */
  async start(name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Replica> {
    const proc = await startCoordinatorProcess({
      env: { ...this.env, ...extraEnv },
      dataDir: this.dataDir(),
      adminEmail: ADMIN_EMAIL,
      adminPassword: this.password,
      createAdmin: false,
      what: `replica ${name}`,
    });
    return Object.assign(proc, { name });
  }

  /** Removes the replicas' data directories (stop them first). */
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  private dataDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'casam-e2e-replica-'));
    this.dirs.push(d);
    return d;
  }
}
