import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyPostgresDatabase, TEST_BACKENDS, testPostgresUrl } from '../testing/test-database';

const BIN = path.resolve(__dirname, '../../bin/coordinator.js');

interface Report {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail' | 'skip'; detail: string; fix?: string }[];
}

/** `coordinator preflight --json` as a real process; its exit code and report by check name. */
function preflight(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; report: Report; checks: Record<string, Report['checks'][number]> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'preflight', '--json'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
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
function serve(env: NodeJS.ProcessEnv): Promise<{ stop(signal: NodeJS.Signals): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/listening on http/.test(log))
        resolve({
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
