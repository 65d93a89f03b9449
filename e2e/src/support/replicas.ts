import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminLogin, runCoordinatorCli, spawnCoordinatorServe } from './coordinator-process';

const ADMIN_EMAIL = 'ops@hospital.example';

/** One coordinator replica process (`coordinator serve`) of a {@link ReplicaSet}. */
export interface Replica {
  name: string;
  url: string;
  log(): string;
  adminToken(): Promise<string>;
  /** An admin API call on this replica; throws on a non-2xx answer. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** The raw answer of an admin API call on this replica. */
  adminRaw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Signals the process and waits for it to exit (SIGKILL: a crash, nothing cleaned up). */
  stop(signal?: NodeJS.Signals): Promise<void>;
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
    const env = { ...this.env, ...extraEnv, COORDINATOR_DATA_DIR: this.dataDir() };
    const { child, url, log, exited } = await spawnCoordinatorServe(env, { what: `replica ${name}` });
    let token: string | null = null;
    const raw = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await self.adminToken()}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    };
    const self: Replica = {
      name,
      url,
      log,
      adminToken: async () => {
        token ??= await adminLogin(url, ADMIN_EMAIL, this.password);
        return token;
      },
      adminRaw: raw,
      async admin<T>(method: string, path: string, body?: unknown) {
        const r = await raw(method, path, body);
        if (r.status >= 300)
          throw new Error(`${method} ${path} on ${name}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body as T;
      },
      async stop(signal: NodeJS.Signals = 'SIGTERM') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
    };
    return self;
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
