import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LoginResponse } from '@casam/protocol';

/** The coordinator's CLI, as an operator runs it. */
const COORDINATOR_BIN = resolve(__dirname, '../bin/coordinator.js');
const LISTENING = /listening on (http:\/\/[^\s"()]+)/;

/** A real `coordinator serve` process started by {@link startCoordinatorProcess}. */
export interface CoordinatorProcess {
  url: string;
  child: ChildProcess;
  dataDir: string;
  /** `postgres` when this process runs on a Postgres database (`DATABASE_URL`), else `pglite` (embedded). */
  database: 'postgres' | 'pglite';
  adminEmail: string;
  adminPassword: string;
  env: NodeJS.ProcessEnv;
  /** What the process printed (with `keepLog: false`, only up to the line that it listens). */
  log(): string;
  /** Logs in as the admin the harness created (once; the answer is kept). */
  adminSession(): Promise<LoginResponse>;
  /** The admin's bearer token. */
  adminToken(): Promise<string>;
  /** JSON call with the admin's token; throws with the body on a non-2xx status. */
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** The same call, answered as it came (status, and the body parsed as JSON where it is JSON). */
  adminRaw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Stops the process; the data directory is deleted unless `keepData` (for a restart). */
  stop(signal?: NodeJS.Signals, keepData?: boolean): Promise<void>;
}

export interface CoordinatorProcessOptions {
  /** On top of the parent's environment and the defaults (port 0, text logs); wins over both. */
  env?: NodeJS.ProcessEnv;
  /** Data directory; default a fresh temp directory. */
  dataDir?: string;
  /** A Postgres database to run on; default the embedded database (the parent's `DATABASE_URL` is dropped). */
  databaseUrl?: string;
  /** Restart on the data directory, database and admin of an earlier process stopped with keepData. */
  restartOf?: CoordinatorProcess;
  adminEmail?: string;
  adminPassword?: string;
  /** Create the admin with the CLI before serving (default: yes, unless restarting). False for a second replica. */
  createAdmin?: boolean;
  /** Node flags for `serve` (e.g. `--max-old-space-size=4096`). */
  nodeArgs?: string[];
  /** Also append create-admin's and the server's output to this file. */
  logFile?: string;
  /** Keep the server's output after it listens (default true); false for long, chatty benchmark runs. */
  keepLog?: boolean;
  /** Give up waiting for `listening on` after this long (default: wait as long as the process runs). */
  listenTimeoutMs?: number;
  /** Names the process in errors (e.g. `replica a`). */
  what?: string;
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

export interface ServeOptions {
  /** Names the process in errors. */
  what?: string;
  nodeArgs?: string[];
  logFile?: string;
  keepLog?: boolean;
  listenTimeoutMs?: number;
}

/** `coordinator serve` in `env`; resolves with its URL once it listens, rejects (naming `what`) if it exits first. */
export async function spawnCoordinatorServe(
  env: NodeJS.ProcessEnv,
  opts: ServeOptions = {},
): Promise<{ child: ChildProcess; url: string; log: () => string; exited: Promise<void> }> {
  const what = opts.what ?? 'coordinator';
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), COORDINATOR_BIN, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let listening = false;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const onData = (d: Buffer) => {
    if (opts.logFile) appendFileSync(opts.logFile, d);
    if (listening && opts.keepLog === false) return;
    log += d.toString();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const url = await new Promise<string>((res, rej) => {
    const ms = opts.listenTimeoutMs;
    const timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            rej(new Error(`${what} did not listen within ${ms / 1000} s:\n${log}`));
          }, ms);
    // Only until it listens: the log of a long run is large, and searching it again per chunk adds up.
    const watch = () => {
      const m = LISTENING.exec(log);
      if (!m) return;
      listening = true;
      clearTimeout(timer);
      child.stdout!.off('data', watch);
      child.stderr!.off('data', watch);
      res(m[1]);
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`${what} exited before listening:\n${log}`));
    });
  });
  return { child, url, log: () => log, exited };
}

/** Logs an admin in at `url`; the access token. */
export async function adminLogin(url: string, email: string, password: string): Promise<string> {
  return (await adminSession(url, email, password)).accessToken;
}

/** Logs an admin in at `url`; the whole answer (token, expiry, the account). */
export async function adminSession(url: string, email: string, password: string): Promise<LoginResponse> {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(`login at ${url} failed: ${r.status} ${await r.text()}`);
  return (await r.json()) as LoginResponse;
}

/**
 * A real coordinator process (`bin/coordinator.js serve`) on a free port (or `COORDINATOR_PORT` in `env`), on
 * the embedded database in its data directory or on `databaseUrl`, with one admin account created through the
 * CLI like an operator would. Shared by e2e, the benchmarks and the demo.
 */
export async function startCoordinatorProcess(
  opts: CoordinatorProcessOptions = {},
): Promise<CoordinatorProcess> {
  const before = opts.restartOf;
  const dataDir = before?.dataDir ?? opts.dataDir ?? mkdtempSync(join(tmpdir(), 'casam-coordinator-'));
  mkdirSync(dataDir, { recursive: true });
  const databaseUrl = before ? before.env['DATABASE_URL'] : (opts.databaseUrl ?? opts.env?.['DATABASE_URL']);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    COORDINATOR_DATA_DIR: dataDir,
    COORDINATOR_PORT: '0',
    COORDINATOR_LOG_FORMAT: 'text',
  };
  delete env['DATABASE_URL'];
  Object.assign(env, opts.env);
  if (databaseUrl) env['DATABASE_URL'] = databaseUrl;
  const email = before?.adminEmail ?? opts.adminEmail ?? 'ops@hospital.example';
  const password = before?.adminPassword ?? opts.adminPassword ?? `pw-${randomBytes(12).toString('hex')}`;
  if (opts.createAdmin ?? !before) {
    const args = ['create-admin', '--email', email, '--role', 'admin'];
    const made = await runCoordinatorCli(args, env, `${password}\n`);
    if (opts.logFile) appendFileSync(opts.logFile, `$ coordinator ${args.join(' ')}\n${made.out}\n`);
    if (made.code !== 0) throw new Error(`create-admin failed (${made.code}):\n${made.out}`);
  }
  const { child, url, log, exited } = await spawnCoordinatorServe(env, opts);
  let login: Promise<LoginResponse> | null = null;
  const self: CoordinatorProcess = {
    url,
    child,
    dataDir,
    database: databaseUrl ? 'postgres' : 'pglite',
    adminEmail: email,
    adminPassword: password,
    env,
    log,
    adminSession() {
      login ??= adminSession(url, email, password);
      login.catch(() => (login = null));
      return login;
    },
    async adminToken() {
      return (await self.adminSession()).accessToken;
    },
    async adminRaw(method: string, path: string, body?: unknown) {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await self.adminToken()}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: jsonOrText(text) };
    },
    async admin<T>(method: string, path: string, body?: unknown) {
      const r = await self.adminRaw(method, path, body);
      if (r.status < 200 || r.status >= 300) {
        const shown = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
        throw new Error(`${method} ${path}${opts.what ? ` on ${opts.what}` : ''}: ${r.status} ${shown}`);
      }
      return r.body as T;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', keepData = false) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      // A Postgres database stays: its cluster is thrown away with the test run.
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

function jsonOrText(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
