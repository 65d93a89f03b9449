import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADAPTER_METADATA_KEY,
  CHUNK_SHA256_HEADER,
  UPLOAD_LIMITS,
  expectedAdapterSchema,
} from '@casam/protocol';
import { writeSafetensors, float32Tensor, type HostTensor } from '@casam/casam-core';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import { startTestApp, type TestApp } from '../../testing/test-app';
import {
  type Api,
  apiFor,
  createTestSite,
  FINGERPRINT_A,
  makeAdapterFile,
  putChunk,
  sha256Hex,
  proposeTask,
  signUpload,
  type TestSite,
} from '../../testing/upload.testing';
import { UploadSessionsService } from './upload-sessions.service';

const CHUNK = 64 * 1024;

describe('adapter uploads over HTTP (real app, embedded PGlite, fs blobs)', () => {
  let t: TestApp;
  let api: Api;
  let admin: string;
  let viewer: string;
  let siteA: TestSite; // proposes the tasks
  let siteB: TestSite; // added as a contributor of `taskId`
  let siteC: TestSite; // foreign
  let taskId: string;
  let proposedTaskId: string;
  let rejectedTaskId: string;
  let file: Buffer;
  const events: CoordinatorEvent[] = [];

  beforeAll(async () => {
    t = await startTestApp('pglite');
    api = apiFor(() => t.url);
    admin = (await t.adminToken('admin')).token;
    viewer = (await t.adminToken('viewer')).token;
    [siteA, siteB, siteC] = [
      await createTestSite(t, 'a'),
      await createTestSite(t, 'b'),
      await createTestSite(t, 'c'),
    ];
    const bus = t.app.get(CoordinatorEvents);
    for (const type of ['adapter.uploaded', 'adapter.approved', 'adapter.rejected'] as const)
      bus.on(type, (e) => void events.push(e));
    const propose = async (name: string) =>
      (await proposeTask(api, siteA.token, { name, modality: 'MR', targetStructures: ['left ventricle'] }))
        .body.id as string;
    taskId = await propose('cardiac');
    proposedTaskId = await propose('still-proposed');
    rejectedTaskId = await propose('rejected');
    expect((await api('POST', `/api/v1/tasks/${taskId}/approve`, {}, { token: admin })).status).toBe(200);
    expect(
      (await api('POST', `/api/v1/tasks/${rejectedTaskId}/reject`, { reason: 'no' }, { token: admin }))
        .status,
    ).toBe(200);
    expect(
      (await api('POST', `/api/v1/tasks/${taskId}/contributors`, { siteId: siteB.siteId }, { token: admin }))
        .status,
    ).toBe(200);
    file = makeAdapterFile({ taskId });
  });
  afterAll(async () => {
    await t?.close();
  });

  const start = async (site: TestSite, bytes: Buffer, over: Record<string, unknown> = {}) => {
    const r = await api(
      'POST',
      '/api/v1/uploads',
      { taskId, totalSize: bytes.length, sha256: sha256Hex(bytes), chunkSize: CHUNK, ...over },
      { token: site.token },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { uploadId: string; chunkCount: number };
  };
  const sendAll = async (site: TestSite, uploadId: string, bytes: Buffer, chunkSize = CHUNK) => {
    const n = Math.ceil(bytes.length / chunkSize);
    for (let i = 0; i < n; i++) {
      const r = await putChunk(api, site.token, uploadId, bytes, chunkSize, i);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  };
  const complete = async (site: TestSite, uploadId: string, bytes: Buffer, tid = taskId) =>
    api(
      'POST',
      `/api/v1/uploads/${uploadId}/complete`,
      {
        signature: await signUpload(site, {
          uploadId,
          taskId: tid,
          sha256: sha256Hex(bytes),
          size: bytes.length,
        }),
      },
      { token: site.token },
    );
  /** Uploads `bytes` fully and completes; returns the completion answer. */
  const uploadWhole = async (site: TestSite, bytes: Buffer) => {
    const { uploadId } = await start(site, bytes);
    await sendAll(site, uploadId, bytes);
    return { uploadId, res: await complete(site, uploadId, bytes) };
  };

  it('uploads a real adapter in chunks, out of order and with repeats, into a pending version 1', async () => {
    const s = await start(siteA, file);
    expect(s).toMatchObject({
      chunkCount: Math.ceil(file.length / CHUNK),
      chunkSize: CHUNK,
      receivedChunks: [],
      status: 'open',
    });
    expect(s.chunkCount).toBeGreaterThan(3);
    const order = [...Array(s.chunkCount).keys()].reverse();
    for (const i of order.slice(0, 3))
      expect((await putChunk(api, siteA.token, s.uploadId, file, CHUNK, i)).status).toBe(201);
    const again = await putChunk(api, siteA.token, s.uploadId, file, CHUNK, order[0]);
    expect([again.status, again.body.created, again.body.receivedCount]).toEqual([200, false, 3]);
    const progress = await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteA.token });
    expect(progress.body.receivedChunks).toEqual(order.slice(0, 3).sort((a, b) => a - b));
    for (const i of order.slice(3))
      expect((await putChunk(api, siteA.token, s.uploadId, file, CHUNK, i)).status).toBe(201);
    const chunkHashes = (await t.db.prisma.uploadChunk.findMany({ where: { sessionId: s.uploadId } })).map(
      (c) => c.sha256,
    );

    events.length = 0;
    const done = await complete(siteA, s.uploadId, file);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.upload).toMatchObject({ status: 'completed', adapterVersionId: done.body.adapter.id });
    expect(done.body.adapter).toMatchObject({
      taskId,
      siteId: siteA.siteId,
      version: 1,
      status: 'pending',
      baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A },
      channels: 64,
      formatVersion: 1,
      kind: 'align',
      decoderLora: null,
      tau: { tau: 1.25, p95: 1.1, p99: 1.4, mean: 0.8, std: 0.2, n: 64, percentile: 97 },
      metrics: { dice: 0.81, iou: 0.7 },
      sha256: sha256Hex(file),
      sizeBytes: file.length,
      signedByKeyFingerprint: siteA.fingerprint,
    });
    expect(events).toEqual([
      { type: 'adapter.uploaded', adapterVersionId: done.body.adapter.id, taskId, siteId: siteA.siteId },
    ]);
    // The file is one blob; the chunks are gone (rows and bytes).
    expect(await t.blobStore.get(sha256Hex(file))).toEqual(file);
    expect(await t.db.prisma.uploadChunk.count({ where: { sessionId: s.uploadId } })).toBe(0);
    for (const h of chunkHashes) expect(await t.blobStore.has(h)).toBe(false);
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'adapter.uploaded', outcome: 'success' },
    });
    expect(audit).toMatchObject({
      actorId: siteA.siteId,
      targetType: 'adapter_version',
      targetId: done.body.adapter.id,
    });

    // Completing again answers the same version (a site that lost the answer retries).
    const retry = await complete(siteA, s.uploadId, file);
    expect([retry.status, retry.body.adapter.id]).toEqual([200, done.body.adapter.id]);
    const late = await putChunk(api, siteA.token, s.uploadId, file, CHUNK, 0);
    expect([late.status, late.body.error.code]).toEqual([409, 'upload_not_open']);

    // Read back: metadata, list, the file with its ETag.
    const one = await api('GET', `/api/v1/adapters/${done.body.adapter.id}`, undefined, { token: viewer });
    expect(one.body).toEqual({
      ...done.body.adapter,
      compatibility: { formatVersion: 1, firstAgentVersion: '0.1.0', sitesUnableToRead: expect.any(Array) },
    });
    const list = await api('GET', `/api/v1/tasks/${taskId}/adapters`, undefined, { token: siteA.token });
    expect(list.body.map((v: { id: string }) => v.id)).toContain(done.body.adapter.id);
    const dl = await fetch(`${t.url}/api/v1/adapters/${done.body.adapter.id}/file`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(dl.status).toBe(200);
    expect(dl.headers.get('etag')).toBe(`"${sha256Hex(file)}"`);
    expect(Buffer.from(await dl.arrayBuffer()).equals(file)).toBe(true);
    const cached = await fetch(`${t.url}/api/v1/adapters/${done.body.adapter.id}/file`, {
      headers: { authorization: `Bearer ${viewer}`, 'if-none-match': `"${sha256Hex(file)}"` },
    });
    expect(cached.status).toBe(304);
  });

  it('records a version 2 adapter (decoder LoRA delta) with its kind, in the answer, the detail and the list', async () => {
    const layers = [
      'transformer.layers.0.self_attn.q_proj',
      'transformer.layers.0.self_attn.v_proj',
      'output_hypernetworks_mlps.0.layers.2',
    ];
    const v2file = makeAdapterFile({ taskId, seed: 21, decoderLora: { rank: 2, alpha: 8, layers } });
    const { res } = await uploadWhole(siteB, v2file);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.adapter).toMatchObject({
      status: 'pending',
      formatVersion: 2,
      kind: 'align+decoder-lora',
      decoderLora: { rank: 2, alpha: 8, layers: 3 },
      sha256: sha256Hex(v2file),
    });
    const one = await api('GET', `/api/v1/adapters/${res.body.adapter.id}`, undefined, { token: viewer });
    // Admins and viewers also see which sites could read it (adapter-compatibility.http.spec.ts).
    expect(one.body).toEqual({
      ...res.body.adapter,
      compatibility: expect.objectContaining({ formatVersion: 2 }),
    });
    const list = await api('GET', `/api/v1/tasks/${taskId}/adapters`, undefined, { token: viewer });
    const kinds = new Map(list.body.map((v: { id: string; kind: string }) => [v.id, v.kind]));
    expect(kinds.get(res.body.adapter.id)).toBe('align+decoder-lora');
    expect([...kinds.values()]).toContain('align');
    // The row keeps what the file declared, layer names included.
    const row = await t.db.prisma.adapterVersion.findUnique({ where: { id: res.body.adapter.id } });
    expect([row?.formatVersion, row?.decoderLora]).toEqual([2, { rank: 2, alpha: 8, layers }]);
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'adapter.uploaded', outcome: 'success', targetId: res.body.adapter.id },
    });
    expect(audit?.details).toMatchObject({ kind: 'align+decoder-lora' });
  });

  it('refuses bad upload requests: fields, limits, task state, foreign sites', async () => {
    const ok = { taskId, totalSize: file.length, sha256: sha256Hex(file), chunkSize: CHUNK };
    const cases: [TestSite | string, unknown, number, string][] = [
      [siteA, { ...ok, extra: true }, 400, 'validation_failed'],
      [siteA, { ...ok, sha256: 'ABC' }, 400, 'validation_failed'],
      [siteA, { ...ok, totalSize: 0 }, 400, 'validation_failed'],
      [siteA, { ...ok, totalSize: '12' }, 400, 'validation_failed'],
      [siteA, { ...ok, taskId: 'nope' }, 400, 'validation_failed'],
      [siteA, { ...ok, totalSize: UPLOAD_LIMITS.maxTotalBytes + 1 }, 413, 'upload_too_large'],
      [siteA, { ...ok, chunkSize: 1000 }, 400, 'invalid_chunk_size'],
      [siteA, { ...ok, chunkSize: UPLOAD_LIMITS.maxChunkBytes + 1 }, 400, 'invalid_chunk_size'],
      [siteA, { ...ok, taskId: proposedTaskId }, 409, 'task_not_approved'],
      [siteA, { ...ok, taskId: rejectedTaskId }, 409, 'task_not_approved'],
      [siteA, { ...ok, taskId: '00000000-0000-4000-8000-000000000000' }, 404, 'task_not_found'],
      [siteC, ok, 403, 'not_a_contributor'],
      [siteC, { ...ok, taskId: proposedTaskId }, 404, 'task_not_found'],
      [admin, ok, 403, 'forbidden'],
    ];
    for (const [who, body, status, code] of cases) {
      const r = await api('POST', '/api/v1/uploads', body, {
        token: typeof who === 'string' ? who : who.token,
      });
      expect([r.status, r.body?.error?.code], JSON.stringify(body)).toEqual([status, code]);
    }
    const denied = await t.db.prisma.auditEvent.findMany({
      where: { action: 'adapter.upload_started', outcome: 'denied', actorId: siteC.siteId },
    });
    expect(denied.map((e) => (e.details as { error: string }).error).sort()).toEqual([
      'not_a_contributor',
      'task_not_found',
    ]);
  });

  it('refuses bad chunks and stores none of them', async () => {
    const s = await start(siteA, file);
    const url = `/api/v1/uploads/${s.uploadId}/chunks`;
    const first = file.subarray(0, CHUNK);
    const send = (path: string, body: Buffer, headers: Record<string, string>, token = siteA.token) =>
      api('PUT', path, body, { token, headers });
    const h = { [CHUNK_SHA256_HEADER]: sha256Hex(first) };
    const cases: [Promise<Awaited<ReturnType<Api>>>, number, string][] = [
      [
        send(`${url}/0`, first, { [CHUNK_SHA256_HEADER]: sha256Hex(file.subarray(1, CHUNK + 1)) }),
        400,
        'chunk_hash_mismatch',
      ],
      [send(`${url}/0`, first, {}), 400, 'chunk_hash_missing'],
      [send(`${url}/0`, first, { [CHUNK_SHA256_HEADER]: 'zz' }), 400, 'chunk_hash_missing'],
      [send(`${url}/0`, first, { ...h, 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
      [send(`${url}/${s.chunkCount}`, first, h), 400, 'chunk_index_out_of_range'],
      [send(`${url}/-1`, first, h), 400, 'validation_failed'],
      [send(`${url}/abc`, first, h), 400, 'validation_failed'],
      [
        send(`${url}/0`, Buffer.concat([first, Buffer.alloc(1)]), {
          [CHUNK_SHA256_HEADER]: sha256Hex(Buffer.concat([first, Buffer.alloc(1)])),
        }),
        413,
        'chunk_too_large',
      ],
      [
        send(`${url}/0`, first.subarray(0, 100), {
          [CHUNK_SHA256_HEADER]: sha256Hex(first.subarray(0, 100)),
        }),
        400,
        'chunk_size_mismatch',
      ],
      [send(`${url}/0`, first, h, siteC.token), 404, 'upload_not_found'],
      [send(`${url}/0`, first, h, siteB.token), 404, 'upload_not_found'],
      [send(`${url}/0`, first, h, admin), 403, 'forbidden'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      expect([r.status, r.body?.error?.code]).toEqual([status, code]);
    }
    // A chunk far over the limit is refused from its Content-Length without being read.
    const huge = await send(`${url}/0`, Buffer.alloc(UPLOAD_LIMITS.maxChunkBytes + 1), h);
    expect([huge.status, huge.body.error.code]).toEqual([413, 'chunk_too_large']);
    expect(
      (await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteA.token })).body
        .receivedChunks,
    ).toEqual([]);
    expect(await t.db.prisma.uploadChunk.count({ where: { sessionId: s.uploadId } })).toBe(0);

    // A finished chunk never changes.
    expect((await putChunk(api, siteA.token, s.uploadId, file, CHUNK, 0)).status).toBe(201);
    const other = Buffer.from(first).fill(7, 0, 10);
    const conflict = await send(`${url}/0`, other, { [CHUNK_SHA256_HEADER]: sha256Hex(other) });
    expect([conflict.status, conflict.body.error.code]).toEqual([409, 'chunk_conflict']);
    const stored = await t.db.prisma.uploadChunk.findMany({ where: { sessionId: s.uploadId } });
    expect(stored.map((c) => [c.index, c.sha256])).toEqual([[0, sha256Hex(first)]]);
    // Other sites cannot see the upload either.
    expect(
      (await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteC.token })).status,
    ).toBe(404);
  });

  it('refuses a completion before every chunk arrived, naming the missing ones', async () => {
    const s = await start(siteA, file);
    await putChunk(api, siteA.token, s.uploadId, file, CHUNK, 1);
    const r = await complete(siteA, s.uploadId, file);
    expect([r.status, r.body.error.code]).toEqual([409, 'upload_incomplete']);
    expect(r.body.error.details.missing).toEqual([0, ...[...Array(s.chunkCount).keys()].slice(2)]);
  });

  it('refuses bad, missing and foreign signatures; the upload stays open and a good signature then completes it', async () => {
    const s = await start(siteB, file);
    await sendAll(siteB, s.uploadId, file);
    const claims = { uploadId: s.uploadId, taskId, sha256: sha256Hex(file), size: file.length };
    const path = `/api/v1/uploads/${s.uploadId}/complete`;
    const missing = await api('POST', path, {}, { token: siteB.token });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'validation_failed']);
    const extraField = await api('POST', path, { signature: 'x', note: 1 }, { token: siteB.token });
    expect([extraField.status, extraField.body.error.code]).toEqual([400, 'validation_failed']);

    const bad: [string, string, RegExp][] = [
      ['garbage', 'not-a-jws', /not a compact JWS/],
      [
        'wrong audience',
        await signUpload(siteB, claims, { audience: 'casam-coordinator/site-token' }),
        /aud must be/,
      ],
      ['signed by another site, with its kid', await signUpload(siteC, claims), /names no key of this site/],
      [
        'signed by another site, claiming this kid',
        await signUpload({ ...siteC, fingerprint: siteB.fingerprint }, claims),
        /does not verify/,
      ],
      ['unknown kid', await signUpload(siteB, claims, { kid: 'nope' }), /names no key of this site/],
      ['other size', await signUpload(siteB, { ...claims, size: claims.size + 1 }), /signed size/],
      [
        'other upload',
        await signUpload(siteB, { ...claims, uploadId: '00000000-0000-4000-8000-000000000000' }),
        /signed uploadId/,
      ],
      [
        'other hash',
        await signUpload(siteB, { ...claims, sha256: sha256Hex(Buffer.from('x')) }),
        /signed sha256/,
      ],
      ['expired', await signUpload(siteB, claims, { extra: { exp: 1_000_000 } }), /expired/],
    ];
    for (const [what, signature, problem] of bad) {
      const r = await api('POST', path, { signature }, { token: siteB.token });
      expect([r.status, r.body.error.code], what).toEqual([422, 'upload_signature_invalid']);
      expect(r.body.error.details.problems.join('\n'), what).toMatch(problem);
    }
    const still = await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteB.token });
    expect([still.body.status, still.body.receivedChunks.length]).toEqual(['open', s.chunkCount]);
    const denied = await t.db.prisma.auditEvent.count({
      where: { action: 'adapter.uploaded', outcome: 'denied', targetId: s.uploadId },
    });
    expect(denied).toBe(bad.length);

    // A rotated key still signs within its grace period; a revoked one never.
    await t.db.prisma.siteKey.update({ where: { id: siteB.keyId }, data: { status: 'revoked' } });
    const revoked = await api(
      'POST',
      path,
      { signature: await signUpload(siteB, claims) },
      { token: siteB.token },
    );
    // The access token was issued for the revoked key too: refused before reaching the upload.
    expect(revoked.status).toBe(401);
    await t.db.prisma.siteKey.update({
      where: { id: siteB.keyId },
      data: { status: 'rotated', notAfter: new Date(Date.now() + 60_000) },
    });
    const good = await api(
      'POST',
      path,
      { signature: await signUpload(siteB, claims) },
      { token: siteB.token },
    );
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    expect(good.body.adapter).toMatchObject({
      siteId: siteB.siteId,
      status: 'pending',
      signedByKeyFingerprint: siteB.fingerprint,
    });
    await t.db.prisma.siteKey.update({
      where: { id: siteB.keyId },
      data: { status: 'active', notAfter: null },
    });
  });

  describe('a file that is not the promised adapter is refused, the upload aborted and its chunks deleted', () => {
    /** Tensors of a valid adapter in file order (seeded), for building bad files by hand. */
    const validTensors = (channels = 64): [string, HostTensor][] =>
      expectedAdapterSchema(channels).map((s, i) => {
        const n = s.shape.reduce((a, b) => a * b, 1);
        return [s.name, float32Tensor([...s.shape], new Float32Array(n).fill(0.01 * ((i % 5) + 1)))];
      });
    const metadata = (over: Record<string, unknown> = {}) =>
      JSON.stringify({
        format: 'casam-adapter',
        version: 1,
        taskId,
        baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A },
        channels: 64,
        tau: { tau: 1, p95: 1, p99: 1, mean: 1, std: 0, n: 10, percentile: 97 },
        metrics: { dice: 0.5 },
        createdAt: '2026-03-01T10:00:00.000Z',
        ...over,
      });
    const build = (tensors: [string, HostTensor][], meta = metadata()) =>
      Buffer.from(writeSafetensors(tensors, { [ADAPTER_METADATA_KEY]: meta }));

    const refused = async (bytes: Buffer, problem: RegExp, declared = sha256Hex(bytes)) => {
      const chunkSize = bytes.length > 2 * 1024 * 1024 ? 1024 * 1024 : CHUNK;
      const { uploadId } = await start(siteA, bytes, { sha256: declared, chunkSize });
      await sendAll(siteA, uploadId, bytes, chunkSize);
      const hashes = (await t.db.prisma.uploadChunk.findMany({ where: { sessionId: uploadId } })).map(
        (c) => c.sha256,
      );
      const versionsBefore = await t.db.prisma.adapterVersion.count();
      const r = await api(
        'POST',
        `/api/v1/uploads/${uploadId}/complete`,
        { signature: await signUpload(siteA, { uploadId, taskId, sha256: declared, size: bytes.length }) },
        { token: siteA.token },
      );
      expect([r.status, r.body.error.code], JSON.stringify(r.body)).toEqual([422, 'adapter_invalid']);
      expect(r.body.error.details.problems.join('\n')).toMatch(problem);
      const after = await api('GET', `/api/v1/uploads/${uploadId}`, undefined, { token: siteA.token });
      expect([after.body.status, after.body.receivedChunks]).toEqual(['aborted', []]);
      for (const h of hashes) expect(await t.blobStore.has(h), 'chunk blob deleted').toBe(false);
      expect(await t.blobStore.has(declared)).toBe(false);
      expect(await t.db.prisma.adapterVersion.count()).toBe(versionsBefore);
      const audit = await t.db.prisma.auditEvent.findFirst({
        where: { action: 'adapter.upload_rejected', targetId: uploadId },
      });
      expect(audit).toMatchObject({ outcome: 'denied', actorId: siteA.siteId });
      expect((audit!.details as { problems: string[] }).problems).toEqual(r.body.error.details.problems);
      const again = await putChunk(api, siteA.token, uploadId, bytes, CHUNK, 0);
      expect([again.status, again.body.error.code]).toEqual([409, 'upload_not_open']);
      return r.body.error.details.problems as string[];
    };

    it('extra tensors', async () => {
      await refused(
        build([...validTensors(), ['image', float32Tensor([64, 64], new Float32Array(4096))]]),
        /unexpected tensor "image"/,
      );
    });
    it('wrong shapes and wrong channels (a vit_b-sized adapter for a casam-tiny task)', async () => {
      const problems = await refused(
        makeAdapterFile({ taskId, channels: 256, preset: 'casam-tiny' }),
        /shape \[256,256,3,3\] where \[64,64,3,3\]/,
      );
      expect(problems.join('\n')).toMatch(/metadata channels 256 does not match the base model's 64/);
    });
    it('NaN and Inf values', async () => {
      const tensors = validTensors();
      (tensors[0][1].data as Float32Array)[5] = Number.NaN;
      (tensors[3][1].data as Float32Array)[0] = Number.NEGATIVE_INFINITY;
      const problems = await refused(build(tensors), /align.blocks.0.conv1.weight: 1 NaN\/Inf values/);
      expect(problems).toContain('tensor align.blocks.0.conv2.bias: 1 NaN/Inf values');
    });
    it('oversized metadata', async () => {
      const metrics = Object.fromEntries(
        [...Array(200).keys()].map((i) => [`metric_${i}_with_a_long_name`, i]),
      );
      await refused(
        build(validTensors(), metadata({ metrics })),
        /metadata is \d+ bytes, over the limit of 4096/,
      );
    });
    it('metadata for another task or another base model', async () => {
      const problems = await refused(
        makeAdapterFile({
          taskId: proposedTaskId,
          fingerprint: 'sha256:' + 'cd'.repeat(32),
          preset: 'sam-mini',
        }),
        /metadata taskId "[0-9a-f-]+" is not this task's/,
      );
      expect(problems.join('\n')).toMatch(/baseModel.fingerprint sha256:cdcd.* is not the task's/);
      expect(problems.join('\n')).toMatch(/baseModel.preset "sam-mini" is not the task's casam-tiny/);
    });
    it('bytes that do not hash to the declared sha256', async () => {
      await refused(
        makeAdapterFile({ taskId, seed: 99 }),
        /assembled file hashes to [0-9a-f]{64}, not the declared/,
        sha256Hex(Buffer.from('something else')),
      );
    });
    it('a τ its own calibration statistics cannot have produced (one approval would capture all routing)', async () => {
      const honest = { p95: 1.1, p99: 1.4, mean: 0.8, std: 0.2, n: 64, percentile: 97 };
      const problems = await refused(
        build(validTensors(), metadata({ tau: { ...honest, tau: 1e30 } })),
        /metadata tau: τ 1e\+30, the 97th percentile of the held-out scores, must lie between their p95 1\.1 and p99 1\.4/,
      );
      expect(problems.join('\n')).toMatch(
        /τ 1e\+30 is more than 64 held-out scores with mean 0\.8 and std 0\.2 allow at their 97th percentile \(at most 1\.91\d*\); τ must come from the adapter's own calibration/,
      );
      // statistics inflated along with τ still contradict the mean and std they come with
      await refused(
        build(validTensors(), metadata({ tau: { ...honest, tau: 1e30, p95: 1e30, p99: 1e30 } })),
        /p99 1e\+30 is more than 64 held-out scores/,
      );
    });
    it('not a safetensors file at all', async () => {
      await refused(Buffer.alloc(CHUNK + 10, 0xff), /header is \d+ bytes, over the limit/);
    });
  });

  it('an upload stops when its site is removed from the task contributors', async () => {
    const s = await start(siteB, file);
    await sendAll(siteB, s.uploadId, file);
    await api('DELETE', `/api/v1/tasks/${taskId}/contributors/${siteB.siteId}`, undefined, { token: admin });
    const r = await complete(siteB, s.uploadId, file);
    expect([r.status, r.body.error.code]).toEqual([403, 'not_a_contributor']);
    expect(
      (await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteB.token })).body.status,
    ).toBe('aborted');
    const fresh = await api(
      'POST',
      '/api/v1/uploads',
      { taskId, totalSize: 10, sha256: sha256Hex(Buffer.alloc(10)), chunkSize: CHUNK },
      { token: siteB.token },
    );
    expect([fresh.status, fresh.body.error.code]).toEqual([403, 'not_a_contributor']);
    await api('POST', `/api/v1/tasks/${taskId}/contributors`, { siteId: siteB.siteId }, { token: admin });
  });

  it('expired uploads refuse chunks and the sweep deletes their chunks', async () => {
    const own = makeAdapterFile({ taskId, seed: 42 }); // chunks shared with no other upload
    const s = await start(siteA, own);
    await putChunk(api, siteA.token, s.uploadId, own, CHUNK, 0);
    const hash = sha256Hex(own.subarray(0, CHUNK));
    // Time runs out (moving the session's deadline, not the clock: access tokens would expire too).
    await t.db.prisma.uploadSession.update({
      where: { id: s.uploadId },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const r = await putChunk(api, siteA.token, s.uploadId, file, CHUNK, 1);
    expect([r.status, r.body.error.code]).toEqual([410, 'upload_expired']);
    const c = await complete(siteA, s.uploadId, file);
    expect([c.status, c.body.error.code]).toEqual([410, 'upload_expired']);
    expect(await t.app.get(UploadSessionsService).sweepExpired()).toBe(1);
    expect(await t.app.get(UploadSessionsService).sweepExpired()).toBe(0);
    const after = await api('GET', `/api/v1/uploads/${s.uploadId}`, undefined, { token: siteA.token });
    expect([after.body.status, after.body.receivedChunks]).toEqual(['expired', []]);
    expect(await t.blobStore.has(hash)).toBe(false);
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'adapter.upload_expired', targetId: s.uploadId },
    });
    expect(audit).toMatchObject({ actorType: 'system', siteId: siteA.siteId });
  });

  it('admins approve or reject pending versions (compare-and-set, events, audit); files follow the rules', async () => {
    const v2 = (await uploadWhole(siteA, makeAdapterFile({ taskId, seed: 2 }))).res.body.adapter;
    const v3 = (await uploadWhole(siteB, makeAdapterFile({ taskId, seed: 3 }))).res.body.adapter;
    expect(v3.version).toBe(v2.version + 1);
    for (const token of [viewer, siteA.token])
      expect((await api('POST', `/api/v1/adapters/${v2.id}/approve`, {}, { token })).status).toBe(403);

    // Before approval, a foreign site cannot read the file; a contributor can.
    expect(
      (await api('GET', `/api/v1/adapters/${v2.id}/file`, undefined, { token: siteC.token })).status,
    ).toBe(404);
    expect(
      (
        await fetch(`${t.url}/api/v1/adapters/${v2.id}/file`, {
          headers: { authorization: `Bearer ${siteB.token}` },
        })
      ).status,
    ).toBe(200);

    events.length = 0;
    const ok = await api('POST', `/api/v1/adapters/${v2.id}/approve`, {}, { token: admin });
    expect([ok.status, ok.body.status]).toEqual([200, 'approved']);
    const twice = await api('POST', `/api/v1/adapters/${v2.id}/approve`, {}, { token: admin });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'adapter_not_pending']);
    const noReason = await api('POST', `/api/v1/adapters/${v3.id}/reject`, {}, { token: admin });
    expect([noReason.status, noReason.body.error.code]).toEqual([400, 'validation_failed']);
    const rej = await api(
      'POST',
      `/api/v1/adapters/${v3.id}/reject`,
      { reason: 'dice too low' },
      { token: admin },
    );
    expect(rej.body).toMatchObject({ status: 'rejected', statusReason: 'dice too low' });
    const rejApproved = await api(
      'POST',
      `/api/v1/adapters/${v2.id}/reject`,
      { reason: 'x' },
      { token: admin },
    );
    expect([rejApproved.status, rejApproved.body.error.code]).toEqual([409, 'adapter_not_pending']);
    expect(events).toEqual([
      { type: 'adapter.approved', adapterVersionId: v2.id, taskId },
      { type: 'adapter.rejected', adapterVersionId: v3.id, taskId },
    ]);
    const audit = await t.db.prisma.auditEvent.findMany({
      where: { targetId: { in: [v2.id, v3.id] }, action: { in: ['adapter.approved', 'adapter.rejected'] } },
      orderBy: { createdAt: 'asc' },
    });
    expect(audit.map((e) => `${e.action}:${e.outcome}:${e.targetId === v2.id ? 'v2' : 'v3'}`)).toEqual([
      'adapter.approved:success:v2',
      'adapter.approved:denied:v2',
      'adapter.rejected:success:v3',
      'adapter.rejected:denied:v2',
    ]);
    expect(
      (
        audit.find((e) => e.action === 'adapter.rejected' && e.outcome === 'success')!.details as {
          reason: string;
        }
      ).reason,
    ).toBe('dice too low');

    // An approved version of an approved task is readable by every site; a rejected one only by its task's sites.
    const foreign = await fetch(`${t.url}/api/v1/adapters/${v2.id}/file`, {
      headers: { authorization: `Bearer ${siteC.token}` },
    });
    expect(foreign.status).toBe(200);
    expect(
      (await api('GET', `/api/v1/adapters/${v3.id}/file`, undefined, { token: siteC.token })).status,
    ).toBe(404);
    const missing = await api('GET', `/api/v1/adapters/00000000-0000-4000-8000-000000000000`, undefined, {
      token: viewer,
    });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'adapter_not_found']);
  });
});
