import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import type { LoginResponse } from '@casam/protocol';

const COORDINATOR_BIN = resolve(__dirname, '../../../apps/coordinator/bin/coordinator.js');

export interface CoordinatorProcess {
  url: string;
  dataDir: string;
  /** `postgres` when this process runs on a database of the e2e Postgres cluster, else `pglite` (embedded). */
  database: 'postgres' | 'pglite';
  adminPassword: string;
  env: NodeJS.ProcessEnv;
  log(): string;
  /** Logs in as the admin the harness created; returns a bearer token. */
  adminToken(): Promise<string>;
  /** JSON call with the admin's token; throws with the body on a non-2xx status. */
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Stops the process; the data directory is deleted unless `keepData` (for a restart). */
  stop(signal?: NodeJS.Signals, keepData?: boolean): Promise<void>;
}

/** `coordinator <args>` to its end, with `stdin` written to it (e.g. a password for create-admin). */
export function runCoordinatorCli(
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

/** `coordinator serve` in `env`; resolves with its URL once it listens, rejects (naming `what`) if it exits first. */
export async function spawnCoordinatorServe(
  env: NodeJS.ProcessEnv,
  what = 'coordinator',
): Promise<{ child: ChildProcess; url: string; log: () => string; exited: Promise<void> }> {
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
    void exited.then(() => rej(new Error(`${what} exited before listening:\n${log}`)));
  });
  return { child, url, log: () => log, exited };
}

/** Logs an admin in at `url`; the access token. */
export async function adminLogin(url: string, email: string, password: string): Promise<string> {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(`login at ${url} failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as LoginResponse).accessToken;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Restart on the data directory (and database) of an earlier process stopped with keepData. */
  restartOf?: CoordinatorProcess;
  /**
   * Run on a fresh database of the e2e Postgres cluster when one runs (`CASAM_E2E_DATABASE=postgres`, or CI
   * with the binaries; see global-setup.ts); otherwise, and by default, on the embedded database.
   */
  postgres?: boolean;
}

/** A new empty database in the e2e Postgres cluster; its URL. */
async function createPostgresDatabase(adminUrl: string): Promise<string> {
  const name = `casam_e2e_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A real coordinator process (`bin/coordinator.js serve`) on a free port (or `COORDINATOR_PORT`), on the embedded
 * database in a temp dir or a Postgres database (see {@link StartOptions.postgres}), with one admin account
 * created through the CLI like an operator would.
 */
export async function startCoordinatorProcess(opts: StartOptions = {}): Promise<CoordinatorProcess> {
  const extraEnv = { ...opts.env };
  const keepDir = opts.restartOf?.dataDir;
  const dataDir = keepDir ?? mkdtempSync(join(tmpdir(), 'casam-e2e-coord-'));
  let databaseUrl = opts.restartOf?.env['DATABASE_URL'];
  if (!opts.restartOf && opts.postgres) {
    const cluster = inject('e2ePostgresUrl');
    if (cluster) databaseUrl = await createPostgresDatabase(cluster);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    COORDINATOR_DATA_DIR: dataDir,
    COORDINATOR_PORT: '0',
    COORDINATOR_LOG_FORMAT: 'text',
    ...extraEnv,
  };
  delete env['DATABASE_URL'];
  Object.assign(env, extraEnv);
  if (databaseUrl) env['DATABASE_URL'] = databaseUrl;
  const email = 'ops@hospital.example';
  const password = opts.restartOf?.adminPassword ?? `pw-${randomBytes(12).toString('hex')}`;
  if (!keepDir) {
    const made = await runCoordinatorCli(
      ['create-admin', '--email', email, '--role', 'admin'],
      env,
      `${password}\n`,
    );
    if (made.code !== 0) throw new Error(`create-admin failed (${made.code}):\n${made.out}`);
  }
  const { child, url, log, exited } = await spawnCoordinatorServe(env);
  let token: string | null = null;
  const self: CoordinatorProcess = {
    url,
    dataDir,
    database: databaseUrl ? 'postgres' : 'pglite',
    adminPassword: password,
    env,
    log,
    async adminToken() {
      token ??= await adminLogin(url, email, password);
      return token;
    },
    async admin<T>(method: string, path: string, body?: unknown) {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await self.adminToken()}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', keepData = false) {
      child.kill(signal);
      await exited;
      // A Postgres database stays: the cluster is thrown away at the end of the run.
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** A TCP port free right now on 127.0.0.1 (for a coordinator that must keep its URL across restarts). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}
