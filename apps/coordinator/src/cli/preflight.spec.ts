import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyPostgresDatabase, TEST_BACKENDS, testPostgresUrl } from '../../testing/test-database';

const BIN = path.resolve(__dirname, '../../bin/coordinator.js');

interface Report {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail' | 'skip'; detail: string; fix?: string }[];
}

/** `coordinator preflight --json` as a real process; its exit code and report by check name. */
function preflight(
  env: NodeJS.ProcessEnv,
  umask?: string,
): Promise<{ code: number | null; report: Report; checks: Record<string, Report['checks'][number]> }> {
  return new Promise((resolve, reject) => {
    const child = spawnCoordinator(['preflight', '--json'], env, umask);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        const report = JSON.parse(out) as Report;
        resolve({ code, report, checks: Object.fromEntries(report.checks.map((c) => [c.name, c])) });
      } catch {
        reject(new Error(`preflight printed no JSON (exit ${code}):\n${out}\n${err}`));
      }
    });
  });
}

/** `coordinator serve` until it logs "listening on"; stop() signals it and waits for the exit. */
function serve(
  env: NodeJS.ProcessEnv,
  umask?: string,
): Promise<{ url: string; stop(signal: NodeJS.Signals): Promise<void> }> {
  const child: ChildProcess = spawnCoordinator(['serve'], env, umask);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/[^\s"()]+)/.exec(log);
      if (m)
        resolve({
          url: m[1],
          stop: async (signal) => {
            child.kill(signal);
            await exited;
          },
        });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => reject(new Error(`coordinator exited before listening:\n${log}`)));
  });
}

/** `bin/coordinator.js <args>`, under `umask` when given (through sh: Node cannot set a child's umask). */
function spawnCoordinator(args: string[], env: NodeJS.ProcessEnv, umask?: string): ChildProcess {
  const [cmd, argv] = umask
    ? ['/bin/sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  return spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Paths under `root` (itself included) that the group or others may use, with their modes in octal. */
function openEntries(root: string): string[] {
  const out: string[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    const st = fs.lstatSync(p);
    if (st.mode & 0o077) out.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) stack.push(path.join(p, n));
  }
  return out;
}

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

for (const backend of TEST_BACKENDS) {
  describe.skipIf(backend === 'postgres' && !testPostgresUrl())(`coordinator preflight [${backend}]`, () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-coordinator-preflight-'));
      let url = '';
      if (backend === 'postgres') {
        const created = await createEmptyPostgresDatabase();
        url = created.url;
        drop = created.drop;
      }
      env = {
        ...process.env,
        DATABASE_URL: url,
        COORDINATOR_SECRET: '',
        COORDINATOR_DATA_DIR: dir,
        COORDINATOR_PORT: '0',
        COORDINATOR_BLOB_STORE: 'fs',
        COORDINATOR_BLOB_DIR: '',
        COORDINATOR_LOG_FORMAT: 'json',
      };
    });
    afterAll(async () => {
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('before the first start: passes with what serve will create as warnings', async () => {
      const r = await preflight(env);
      expect(r.code).toBe(0);
      expect(r.report.ok).toBe(true);
      expect(r.checks['config']!.status).toBe('ok');
      expect(r.checks['database']!.status).toBe('ok');
      expect(r.checks['secret']).toMatchObject({ status: 'warn' });
      expect(r.checks['migrations']).toMatchObject({ status: 'warn' });
      expect(r.checks['migrations']!.fix).toMatch(/coordinator migrate/);
      expect(r.checks['blob-store']!.status).toBe('ok');
      expect(r.checks['signing-key']!.status).toBe('skip');
    });

    it('after a start: all ok; a readable secret, another secret, an unwritable blob store, a bad config fail', async () => {
      const server = await serve(env);
      try {
        const running = await preflight(env);
        expect(running.code).toBe(0);
        // The embedded database belongs to the running process; Postgres is shared.
        expect(running.checks['database']!.status).toBe(backend === 'pglite' ? 'warn' : 'ok');
      } finally {
        // The embedded database must be closed cleanly before another process opens it; on Postgres only the
        // database's state matters here (graceful shutdown is main.spec's business), so it is killed.
        await server.stop(backend === 'pglite' ? 'SIGTERM' : 'SIGKILL');
      }
      const r = await preflight(env);
      expect(r.code, JSON.stringify(r.report, null, 2)).toBe(0);
      for (const n of [
        'config',
        'data-dir',
        'disk',
        'secret',
        'database',
        'migrations',
        'blob-store',
        'signing-key',
      ])
        expect(r.checks[n]?.status, `${n}: ${r.checks[n]?.detail}`).toBe('ok');
      expect(r.checks['signing-key']!.detail).toMatch(/unseals with this secret/);

      const secretFile = path.join(dir, 'secret.key');
      fs.chmodSync(secretFile, 0o644);
      const open = await preflight(env);
      fs.chmodSync(secretFile, 0o600);
      expect(open.code).toBe(6);
      expect(open.checks['secret']).toMatchObject({ status: 'fail' });
      expect(open.checks['secret']!.fix).toBe(`chmod 600 ${secretFile}`);

      const other = await preflight({ ...env, COORDINATOR_SECRET: 'ab'.repeat(32) });
      expect(other.code).toBe(6);
      expect(other.checks['secret']!.status).toBe('ok');
      expect(other.checks['signing-key']).toMatchObject({ status: 'fail' });
      expect(other.checks['signing-key']!.detail).toMatch(/does not unseal with this secret/);

      const notADir = path.join(dir, 'not-a-dir');
      fs.writeFileSync(notADir, 'x');
      const blobs = await preflight({ ...env, COORDINATOR_BLOB_DIR: notADir });
      expect(blobs.code).toBe(6);
      expect(blobs.checks['blob-store']).toMatchObject({ status: 'fail' });

      const bad = await preflight({ ...env, COORDINATOR_PORT: 'eighty' });
      expect(bad.code).toBe(6);
      expect(bad.checks['config']!.detail).toMatch(/COORDINATOR_PORT: must be an integer/);
    });

    it.runIf(backend === 'postgres')(
      'names an unreachable Postgres without printing its password',
      async () => {
        const port = await closedPort();
        const r = await preflight({
          ...env,
          DATABASE_URL: `postgres://casam:hunter2-secret@127.0.0.1:${port}/casam`,
        });
        expect(r.code).toBe(6);
        expect(r.checks['database']).toMatchObject({ status: 'fail' });
        expect(r.checks['database']!.detail).toMatch(/ECONNREFUSED|connect/);
        expect(r.checks['database']!.fix).toMatch(/DATABASE_URL/);
        expect(JSON.stringify(r.report)).not.toContain('hunter2');
        expect(r.checks['migrations']!.status).toBe('skip');
      },
    );
  });
}

describe('the embedded database under umask 022 [pglite]', () => {
  let parent: string;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-coordinator-umask-'));
    dir = path.join(parent, 'state', 'coordinator'); // does not exist yet: serve creates it
    env = {
      ...process.env,
      DATABASE_URL: '',
      COORDINATOR_SECRET: '',
      COORDINATOR_DATA_DIR: dir,
      COORDINATOR_PORT: '0',
      COORDINATOR_BLOB_STORE: 'fs',
      COORDINATOR_BLOB_DIR: '',
      COORDINATOR_LOG_FORMAT: 'json',
    };
  });
  afterAll(() => {
    fs.rmSync(parent, { recursive: true, force: true });
  });

  it('creates the data directory 0700 and every file of it for the owner only, running and stopped', async () => {
    const server = await serve(env, '022');
    try {
      // work that writes: migrations ran at start; readiness writes a blob probe
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(openEntries(dir), 'open while running').toEqual([]);
    } finally {
      await server.stop('SIGTERM');
    }
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'db')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.join(dir, 'db')).length).toBeGreaterThan(5);
    expect(openEntries(dir), 'open after stop').toEqual([]);

    const r = await preflight(env, '022');
    expect(r.code, JSON.stringify(r.report, null, 2)).toBe(0);
    expect(r.checks['data-dir']).toMatchObject({ status: 'ok' });
  });

  it('preflight fails, with the fix, on a data directory or a database file open to others', async () => {
    fs.chmodSync(dir, 0o755);
    const openDir = await preflight(env);
    fs.chmodSync(dir, 0o700);
    expect(openDir.code).toBe(6);
    expect(openDir.checks['data-dir']).toMatchObject({
      status: 'fail',
      detail: `${dir} is open to other users (mode 755); it holds the secret and the database`,
      fix: `chmod -R go= ${dir} (owner only), and UMask=0077 in the coordinator's systemd unit`,
    });

    const page = path.join(dir, 'db', 'PG_VERSION');
    fs.chmodSync(page, 0o666);
    const openFile = await preflight(env);
    expect(openFile.code).toBe(6);
    expect(openFile.checks['data-dir']!.status).toBe('fail');
    expect(openFile.checks['data-dir']!.detail).toContain(`${page} (mode 666)`);
    expect(openFile.checks['data-dir']!.fix).toMatch(/^chmod -R go= /);
    // opening the embedded database (preflight opened it after the check) made its files private again
    expect(fs.statSync(page).mode & 0o777).toBe(0o600);
  });
});
