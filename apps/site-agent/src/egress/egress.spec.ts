import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeAdapterFile, initialAlignmentStateDict, initialTaskVaeStateDict } from '@casam/casam-core';
import { UPLOAD_LIMITS } from '@casam/protocol';
import { SiteIdentity } from '../identity/site-identity';
import { EgressGateway, EgressRefusedError } from './egress';
import { EgressLog, parseEgressLog } from './egress-log';

const SITE = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
const UPLOAD = '1c8f5e3d-2e3b-4d4c-8f9a-8b7c6d5e4f30';

describe('EgressGateway (real HTTP server recording the bytes on the wire)', () => {
  let server: http.Server;
  let wire: { method: string; url: string; body: Buffer }[] = [];
  let dir: string;
  let gw: EgressGateway;
  let identity: SiteIdentity;
  const logText = () => readFileSync(join(dir, 'egress.log'), 'utf8');

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        wire.push({ method: req.method!, url: req.url!, body: Buffer.concat(parts) });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'casam-egress-'));
    identity = await SiteIdentity.generate(join(dir, 'site-key.jwk'));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    wire = [];
    rmSync(join(dir, 'egress.log'), { force: true });
    gw = new EgressGateway(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      new EgressLog(join(dir, 'egress.log')),
    );
  });

  it('sends an allowlisted message and logs exactly the bytes that went out', async () => {
    const body = {
      enrollmentToken: 'cset_' + 'a'.repeat(43),
      siteName: 'St Olav',
      publicJwk: identity.publicJwk,
    };
    const res = await gw.request('enroll', { path: '/api/v1/sites/enroll', body });
    expect(res.status).toBe(200);
    expect(wire).toHaveLength(1);
    const [rec] = parseEgressLog(logText());
    expect(rec).toMatchObject({
      type: 'enroll',
      method: 'POST',
      target: '/api/v1/sites/enroll',
      outcome: '200',
    });
    expect(rec.bytes).toBe(wire[0].body.byteLength);
    expect(rec.sha256).toBe(createHash('sha256').update(wire[0].body).digest('hex'));
  });

  it('refuses unknown fields, wrong paths, bodies on reads and foreign headers — nothing reaches the wire', async () => {
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () =>
          gw.request('enroll', {
            path: '/api/v1/sites/enroll',
            body: {
              enrollmentToken: 'cset_' + 'a'.repeat(43),
              siteName: 'x',
              publicJwk: identity.publicJwk,
              note: 'PATIENT 123',
            },
          }),
        /unknown field "note"/,
      ],
      [() => gw.request('read_tasks', { path: '/api/v1/tasks?name=john-doe' }), /path .* is not allowed/],
      [() => gw.request('read_site', { path: '/api/v1/sites/me', body: { x: 1 } }), /a read carries no body/],
      [
        () => gw.request('read_site', { path: '/api/v1/sites/me', headers: { 'x-patient': '1' } }),
        /header x-patient/,
      ],
      [
        () =>
          gw.request('propose_task', {
            path: '/api/v1/tasks',
            body: {
              name: 'liver',
              modality: 'CT',
              targetStructures: ['liver\nDOB 1970'],
              baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + '0'.repeat(64) },
            },
          }),
        /targetStructures\[0\] must not contain a control character/,
      ],
    ];
    for (const [send, why] of cases) {
      const err = await send().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EgressRefusedError);
      expect((err as Error).message).toMatch(why);
    }
    expect(wire).toHaveLength(0);
    const log = parseEgressLog(logText());
    expect(log).toHaveLength(cases.length);
    expect(log.every((r) => r.type.startsWith('refused:'))).toBe(true);
  });

  it('checks the claims inside a signed assertion, not just its shape', async () => {
    const good = await identity.siteAssertion(SITE);
    await gw.request('site_token', { path: '/api/v1/auth/site-token', body: { assertion: good } });
    const smuggling = await identity.signClaims(
      { iss: SITE, note: 'x'.repeat(50) },
      'casam-coordinator/site-token',
      SITE,
    );
    await expect(
      gw.request('site_token', { path: '/api/v1/auth/site-token', body: { assertion: smuggling } }),
    ).rejects.toThrow(/assertion payload: unknown field "note"/);
    expect(wire).toHaveLength(1);
  });

  it('lets out only chunks that are byte-for-byte slices of a validated, registered adapter file', async () => {
    const adapter = writeAdapterFile({
      taskId: 'liver',
      baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ab'.repeat(32) },
      tau: { tau: 1, p95: 1, p99: 1, mean: 0.5, std: 0.1, n: 10, percentile: 97 },
      metrics: { iou: 0.8 },
      align: initialAlignmentStateDict(64, 1),
      vae: initialTaskVaeStateDict(64, 1),
    });
    const chunk = 64 * 1024;
    const path = (i: number) => `/api/v1/uploads/${UPLOAD}/chunks/${i}`;
    await expect(
      gw.request('upload_chunk', { path: path(0), body: adapter.subarray(0, chunk) }),
    ).rejects.toThrow(/no validated adapter file is registered/);
    expect(() => gw.registerUpload(UPLOAD, new Uint8Array(1000), chunk, 64)).toThrow(
      /invalid CA-SAM adapter file/,
    );
    gw.registerUpload(UPLOAD, adapter, chunk, 64);
    await gw.request('upload_chunk', { path: path(1), body: adapter.subarray(chunk, 2 * chunk) });
    const image = new Uint8Array(chunk).fill(200); // e.g. pixels
    await expect(gw.request('upload_chunk', { path: path(0), body: image })).rejects.toThrow(
      /not the registered adapter file/,
    );
    await expect(
      gw.request('upload_chunk', { path: path(1), body: adapter.subarray(0, chunk) }),
    ).rejects.toThrow(/not the registered adapter file/);
    expect(wire).toHaveLength(1);
    expect(wire[0].body.equals(Buffer.from(adapter.subarray(chunk, 2 * chunk)))).toBe(true);
  });

  it('lets out exactly the upload sizes the coordinator takes (UPLOAD_LIMITS, written once in libs/protocol)', async () => {
    const { minChunkBytes, maxChunkBytes, maxTotalBytes } = UPLOAD_LIMITS;
    const create = (totalSize: number, chunkSize: number) =>
      gw.request('upload_create', {
        path: '/api/v1/uploads',
        body: { taskId: UPLOAD, totalSize, sha256: 'a'.repeat(64), chunkSize },
      });
    await create(maxTotalBytes, maxChunkBytes);
    await create(1, minChunkBytes);
    expect(wire).toHaveLength(2);
    for (const [total, chunk, why] of [
      [maxTotalBytes + 1, minChunkBytes, /totalSize must be at most/],
      [1000, maxChunkBytes + 1, /chunkSize must be at most/],
      [1000, minChunkBytes - 1, /chunkSize must be at least/],
    ] as const)
      await expect(create(total, chunk)).rejects.toThrow(why);
    expect(wire).toHaveLength(2);
  });

  it('checks socket events against their schema', () => {
    expect(
      gw.socketEvent('socket_training_progress', {
        taskId: UPLOAD,
        stage: 'training_align',
        epoch: 1,
        epochs: 5,
        loss: 0.3,
      }).event,
    ).toBe('training.progress');
    expect(() =>
      gw.socketEvent('socket_training_progress', {
        taskId: UPLOAD,
        stage: 'training_align',
        epoch: 1,
        epochs: 5,
        image: 'AAAA',
      }),
    ).toThrow(/unknown field "image"/);
  });

  it('talks to one coordinator origin only', () => {
    expect(() => new EgressGateway('http://host/api', new EgressLog(join(dir, 'x.log')))).toThrow(
      /must be an origin/,
    );
    expect(() => new EgressGateway('ftp://host', new EgressLog(join(dir, 'x.log')))).toThrow(/must be http/);
  });
});
