import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LoginResponse } from '@casam/protocol';

const COORDINATOR_BIN = resolve(__dirname, '../../../apps/coordinator/bin/coordinator.js');
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
    const made = await runCli(
      ['create-admin', '--email', ADMIN_EMAIL, '--role', 'admin'],
      env,
      `${this.password}\n`,
    );
    if (made.code !== 0) throw new Error(`create-admin failed (${made.code}):\n${made.out}`);
  }

  /** Starts a replica (with `extraEnv` on top of the shared environment) and resolves once it listens. */
  async start(name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Replica> {
    const env = { ...this.env, ...extraEnv, COORDINATOR_DATA_DIR: this.dataDir() };
    const child: ChildProcess = spawn(process.execPath, [COORDINATOR_BIN, 'serve'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const url = await new Promise<string>((res, rej) => {
      const onData = (d: Buffer) => {
        log += d.toString();
        const m = /listening on (http:\/\/[^\s"()]+)/.exec(log);
        if (m) res(m[1]);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(() => rej(new Error(`replica ${name} exited before listening:\n${log}`)));
    });
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
      log: () => log,
      adminToken: async () => {
        if (token) return token;
        const r = await fetch(`${url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: ADMIN_EMAIL, password: this.password }),
        });
        if (!r.ok) throw new Error(`login on ${name} failed: ${r.status} ${await r.text()}`);
        token = ((await r.json()) as LoginResponse).accessToken;
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

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
): Promise<{ code: number | null; out: string }> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [COORDINATOR_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', rej);
    c.once('close', (code) => res({ code, out }));
    c.stdin.end(stdin);
  });
}
