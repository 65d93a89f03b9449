import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiErrorBody, LivenessResponse, ReadinessResponse } from '@casam/protocol';
import { AdminRepository } from './admins/admin.repository';
import { PasswordHasher } from './admins/password-hasher';
import { AuditEventRepository } from './audit/audit-event.repository';
import type { Database } from './database/database';
import { EmbeddedDatabase } from './database/embedded-database';
import { PostgresDatabase } from './database/postgres-database';
import { createEmptyPostgresDatabase, TEST_BACKENDS, testPostgresUrl } from '../testing/test-database';

const BIN = path.resolve(__dirname, '../bin/coordinator.js');
/** Committed migrations (folders under prisma/migrations). */
const MIGRATIONS = fs
  .readdirSync(path.resolve(__dirname, '../../../prisma/migrations'), { withFileTypes: true })
  .filter((d) => d.isDirectory()).length;

interface Server {
  url: string;
  bootMs: number;
  log: () => string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the real coordinator (`bin/coordinator.js serve`) and waits for its "listening on" log line. */
function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/[^\s"()]+)/.exec(log);
      if (m)
        resolve({
          url: m[1],
          bootMs: Math.round(performance.now() - t0),
          log: () => log,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) =>
      reject(new Error(`coordinator exited (${code ?? signal}) before listening:\n${log}`)),
    );
  });
}

/** Runs `bin/coordinator.js <args>` to completion, writing `stdin` to it. */
function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin = '',
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.end(stdin);
  });
}

async function getJson<T>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; correlationId: string | null }> {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    body: (await res.json()) as T,
    correlationId: res.headers.get('x-correlation-id'),
  };
}

for (const backend of TEST_BACKENDS) {
  const unavailable = backend === 'postgres' && !testPostgresUrl();
  describe.skipIf(unavailable)(
    `coordinator process [${backend === 'pglite' ? 'embedded PGlite' : 'Postgres'}]`,
    () => {
      let dir: string;
      let env: NodeJS.ProcessEnv;
      let dropDatabase: (() => Promise<void>) | undefined;
      let server: Server | undefined;
      const password = 'a sufficiently long passphrase';

      const openDb = (): Promise<Database> =>
        backend === 'pglite'
          ? EmbeddedDatabase.open({ dataDir: path.join(dir, 'db') })
          : PostgresDatabase.open({ url: env.DATABASE_URL ?? '', poolMax: 1 });

      beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-coordinator-e2e-'));
        let databaseUrl = ''; // blank = unset: the embedded database
        if (backend === 'postgres') {
          const created = await createEmptyPostgresDatabase();
          databaseUrl = created.url;
          dropDatabase = created.drop;
        }
        env = {
          ...process.env,
          DATABASE_URL: databaseUrl,
          COORDINATOR_DATA_DIR: dir,
          COORDINATOR_PORT: '0',
          COORDINATOR_HOST: '127.0.0.1',
          COORDINATOR_LOG_FORMAT: 'json',
          COORDINATOR_BLOB_STORE: 'fs',
        };
      });

      afterAll(async () => {
        await server?.stop();
        await dropDatabase?.();
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it('boots on an empty database, applying the migrations, and answers /healthz and /readyz', async () => {
        server = await startServer(env);
        console.log(
          `[${backend}] first boot: ${server.bootMs} ms from spawn; ${/boot \d+ ms[^)]*/.exec(server.log())?.[0]}`,
        );
        expect(server.log()).toContain(`${MIGRATIONS} migration(s) applied, 0 already there`);

        const live = await getJson<LivenessResponse>(`${server.url}/healthz`);
        expect(live.status).toBe(200);
        expect(live.body).toMatchObject({ status: 'ok', version: '0.1.0', protocolVersion: '0.1.0' });
        const ready = await getJson<ReadinessResponse>(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(ready.body.status).toBe('ready');
        expect(ready.body.checks.database.status).toBe('up');
        expect(ready.body.checks.blobStore.status).toBe('up');
      });

      it('answers a domain error (503 not_ready) with the error shape and a correlation id when the blob store is gone', async () => {
        const blobs = path.join(dir, 'blobs');
        fs.rmSync(blobs, { recursive: true, force: true });
        const res = await getJson<ApiErrorBody>(`${server?.url}/readyz`);
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('not_ready');
        expect(res.body.error.message).toMatch(/^not ready: blobStore: /);
        expect(res.body.error.correlationId).toBe(res.correlationId);
        expect(res.body.error.correlationId).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.body.error.details).toMatchObject({
          checks: { database: { status: 'up' }, blobStore: { status: 'down' } },
        });

        fs.mkdirSync(path.join(blobs, 'objects'), { recursive: true });
        fs.mkdirSync(path.join(blobs, 'tmp'), { recursive: true });
        expect((await getJson(`${server?.url}/readyz`)).status).toBe(200);
      });

      it('keeps the caller’s correlation id on errors', async () => {
        const res = await getJson<ApiErrorBody>(`${server?.url}/api/v1/nothing-here`, {
          'x-correlation-id': 'site-42.req-7',
        });
        expect(res.status).toBe(404);
        expect(res.correlationId).toBe('site-42.req-7');
        expect(res.body).toEqual({
          error: {
            code: 'not_found',
            message: 'Cannot GET /api/v1/nothing-here',
            correlationId: 'site-42.req-7',
          },
        });

        // One access-log line per request, and nothing after it (each used to be followed by a bogus
        // {"message":"Http","context":"Http"} line).
        const lines = async (): Promise<Record<string, unknown>[]> => {
          for (let i = 0; i < 50 && !server?.log().includes('"correlationId":"site-42.req-7"'); i++)
            await new Promise((r) => setTimeout(r, 100));
          return (server?.log() ?? '')
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        };
        const log = await lines();
        const access = log.filter((l) => l['context'] === 'Http');
        expect(access.length).toBeGreaterThan(0);
        for (const l of access) expect(l['message'], JSON.stringify(l)).toMatchObject({ msg: 'request' });
        expect(
          access.find((l) => (l['message'] as { correlationId?: string }).correlationId === 'site-42.req-7'),
        ).toMatchObject({
          level: 'log',
          message: { method: 'GET', path: '/api/v1/nothing-here', status: 404, route: 'unmatched' },
        });
      });

      if (backend === 'pglite')
        it('will not open the embedded database a running coordinator holds', async () => {
          const r = await runCli(
            ['create-admin', '--email', 'x@hospital.example', '--role', 'admin'],
            env,
            `${password}\n`,
          );
          expect(r.code, r.out).toBe(4);
          expect(r.out).toMatch(
            /in use by the running coordinator \(process \d+\): stop it, create the admin/,
          );
        });

      it('stops cleanly on SIGTERM', async () => {
        const exit = await server?.stop();
        server = undefined;
        expect(exit?.code === 0 || exit?.signal === 'SIGTERM').toBe(true);
      });

      it('create-admin reads the password from stdin and stores a verifiable scrypt hash', async () => {
        const r = await runCli(
          ['create-admin', '--email', 'Ops@Hospital.example', '--role', 'admin'],
          env,
          `${password}\n`,
        );
        expect(r.code, r.out).toBe(0);
        expect(r.out).toMatch(/^created admin ops@hospital\.example \(id [0-9a-f-]{36}\)$/m);
        expect(r.out).not.toContain(password);

        const db = await openDb();
        try {
          const admin = await new AdminRepository(db).findByEmail('ops@hospital.example');
          expect(admin).toMatchObject({ role: 'admin', disabledAt: null });
          expect(admin?.passwordHash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
          const hasher = new PasswordHasher();
          expect(await hasher.verify(password, admin?.passwordHash ?? '')).toBe(true);
          expect(await hasher.verify(`${password}!`, admin?.passwordHash ?? '')).toBe(false);
          const audit = await new AuditEventRepository(db).list({ action: 'admin.created' });
          expect(audit).toHaveLength(1);
          expect(audit[0]).toMatchObject({
            actorType: 'system',
            targetId: admin?.id,
            details: { via: 'cli', role: 'admin' },
          });
        } finally {
          await db.close();
        }
      });

      it('create-admin refuses a taken email, a weak password and bad usage, with distinct exit codes', async () => {
        const taken = await runCli(
          ['create-admin', '--email', 'ops@hospital.example', '--role', 'viewer'],
          env,
          `${password}\n`,
        );
        expect(taken.code, taken.out).toBe(3);
        expect(taken.out).toMatch(/already exists/);
        const weak = await runCli(
          ['create-admin', '--email', 'new@hospital.example', '--role', 'viewer'],
          env,
          'short\n',
        );
        expect(weak.code, weak.out).toBe(3);
        expect(weak.out).toMatch(/at least 12 characters/);
        const usage = await runCli(
          ['create-admin', '--email', 'new@hospital.example', '--role', 'root'],
          env,
          `${password}\n`,
        );
        expect(usage.code, usage.out).toBe(2);
        const empty = await runCli(
          ['create-admin', '--email', 'new@hospital.example', '--role', 'viewer'],
          env,
          '',
        );
        expect(empty.code, empty.out).toBe(2);
        expect(empty.out).toMatch(/no password on stdin/);
      });

      it('boots again on the migrated database, applying nothing', async () => {
        server = await startServer(env);
        console.log(
          `[${backend}] second boot: ${server.bootMs} ms from spawn; ${/boot \d+ ms[^)]*/.exec(server.log())?.[0]}`,
        );
        expect(server.log()).toContain(`0 migration(s) applied, ${MIGRATIONS} already there`);
        expect((await getJson(`${server.url}/readyz`)).status).toBe(200);
      });
    },
  );
}
