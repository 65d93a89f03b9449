import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller, type INestApplication, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiErrorBody, httpMessage, isApiErrorBody } from '@casam/protocol';
import { configureApp } from '../app.factory';
import { AppModule } from '../app.module';
import { Public } from '../auth/auth.decorators';
import { FsBlobStore } from '../blobs/fs-blob-store';
import { parseConfig } from '../config/coordinator-config';
import type { Database } from '../database/database';
import { openTestDatabase } from '../../testing/test-database';
import { ConflictError } from './domain-error';
import { WireBody } from './wire-request';

const PROBE = httpMessage({
  method: 'POST',
  path: '/probe/echo',
  body: z.strictObject({ name: z.string().min(1).max(10), count: z.int().min(0) }),
  summary: 'spec only',
});
type Probe = z.infer<typeof PROBE.body>;

class ProbeConflictError extends ConflictError {
  constructor() {
    super('probe_conflict', 'the probe is already there', { probe: 1 });
  }
}

/** Spec-only routes that exercise the app's real validation pipe and exception filter. */
@Public()
@Controller('probe')
class ProbeController {
  @Post('echo')
  echo(@WireBody(PROBE) body: Probe): Probe {
    return body;
  }

  @Post('conflict')
  conflict(): never {
    throw new ProbeConflictError();
  }

  @Post('bug')
  bug(): never {
    throw new TypeError('secret internal detail');
  }
}

describe('request pipeline: validation pipe, exception filter, correlation ids', () => {
  let app: INestApplication;
  let base: string;
  let db: Database;
  let dir: string;

  beforeAll(async () => {
    db = await openTestDatabase('pglite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-pipeline-'));
    const config = parseConfig({ COORDINATOR_DATA_DIR: dir, COORDINATOR_PORT: '0' }, dir);
    const blobStore = await FsBlobStore.open(path.join(dir, 'blobs'));
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ config, database: db, blobStore, secret: new Uint8Array(32).fill(7) })],
      controllers: [ProbeController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    configureApp(app);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close(); // also closes the database (DatabaseModule's shutdown hook)
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = (route: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${route}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('passes a valid body through, typed', async () => {
    const res = await post('/probe/echo', JSON.stringify({ name: 'ok', count: 3 }));
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ name: 'ok', count: 3 });
  });

  it('refuses unknown fields and lists every problem', async () => {
    const res = await post('/probe/echo', JSON.stringify({ name: '', count: -1, extra: true }), {
      'x-correlation-id': 'client-chose-this',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-correlation-id')).toBe('client-chose-this');
    const body = (await res.json()) as {
      error: { code: string; message: string; correlationId: string; details: { problems: string[] } };
    };
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.correlationId).toBe('client-chose-this');
    expect(body.error.details.problems).toEqual(
      expect.arrayContaining(['unknown field "extra"', 'name must not be empty', 'count must be at least 0']),
    );
  });

  it('maps domain errors to their status, code and details', async () => {
    const res = await post('/probe/conflict', '{}');
    expect(res.status).toBe(409);
    const body = (await res.json()) as ApiErrorBody;
    expect(body).toEqual({
      error: {
        code: 'probe_conflict',
        message: 'the probe is already there',
        correlationId: res.headers.get('x-correlation-id'),
        details: { probe: 1 },
      },
    });
    expect(body.error.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 500 internal_error for bugs without leaking their message', async () => {
    const res = await post('/probe/bug', '{}');
    expect(res.status).toBe(500);
    const body = (await res.json()) as ApiErrorBody;
    expect(isApiErrorBody(body)).toBe(true);
    expect(body.error).toEqual({
      code: 'internal_error',
      message: 'internal server error',
      correlationId: res.headers.get('x-correlation-id'),
    });
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('gives malformed JSON and unknown routes the same error shape', async () => {
    const bad = await post('/probe/echo', '{"name": ');
    expect(bad.status).toBe(400);
    expect(isApiErrorBody(await bad.json())).toBe(true);
    const missing = await fetch(`${base}/no/such/route`);
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as ApiErrorBody;
    expect(body.error.code).toBe('not_found');
    expect(body.error.correlationId).toBe(missing.headers.get('x-correlation-id'));
  });

  it('ignores a correlation id that is not a plain token', async () => {
    const res = await fetch(`${base}/healthz`, { headers: { 'x-correlation-id': 'bad id\twith spaces' } });
    expect(res.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
