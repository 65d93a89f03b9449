import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApiErrorBody,
  BundleDetail,
  BundleJwks,
  BundleListResponse,
  RotateSigningKeyResponse,
  SigningKeyListResponse,
} from '@casam/protocol';
import { AccessTokenService } from '../auth/access-token.service';
import { BlobRepository } from '../blobs/blob.repository';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { BundleBuilderService } from './bundle-builder.service';
import { seedAdapter, seedAdminAndSite, seedTask } from '../../testing/bundle-test-data';

describe('bundle and signing-key routes (real app)', () => {
  let t: TestApp;
  let admin: string;
  let viewer: string;
  let site: string;
  let siteId: string;
  let adminId: string;
  let v2: BundleDetail;

  const get = (route: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${route}`, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });

  beforeAll(async () => {
    t = await startTestApp();
    ({ token: admin } = await t.adminToken('admin'));
    ({ token: viewer } = await t.adminToken('viewer'));
    ({ adminId, siteId } = await seedAdminAndSite(t.db, 'http'));
    const key = await t.db.prisma.siteKey.create({
      data: { siteId, fingerprint: 'fp-bundles', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' } },
    });
    site = (await t.app.get(AccessTokenService).issueSite(siteId, key.id)).token;

    const blobs = t.app.get(BlobRepository);
    const builder = t.app.get(BundleBuilderService);
    const task = await seedTask(t.db, { siteId, adminId, name: 'liver' });
    await seedAdapter(t.db, t.blobStore, blobs, { taskId: task, siteId, adminId, version: 1, size: 70_000 });
    await builder.reconcile({ reason: 'manual', adminId });
    await seedAdapter(t.db, t.blobStore, blobs, { taskId: task, siteId, adminId, version: 2, size: 90_000 });
    await builder.reconcile({ reason: 'manual', adminId });
    v2 = (await (await get('/api/v1/bundles/latest', viewer)).json()) as BundleDetail;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the JWKS publicly, and the manifest JWS verifies against it', async () => {
    const res = await get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    const jwks = (await res.json()) as BundleJwks;
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const { payload } = await compactVerify(v2.jws, createLocalJWKSet(jwks));
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(v2.manifest);
  });

  it('lists history newest first, with pages, for viewers and sites', async () => {
    for (const token of [viewer, site, admin]) {
      const res = await get('/api/v1/bundles', token);
      expect(res.status).toBe(200);
      const body = (await res.json()) as BundleListResponse;
      expect(body.bundles.map((b) => [b.version, b.taskCount])).toEqual([
        [2, 1],
        [1, 1],
      ]);
      expect(body.bundles[0]).toMatchObject({ contentHash: v2.contentHash, size: v2.size, kid: v2.kid });
    }
    const page = (await (await get('/api/v1/bundles?limit=1&before=2', site)).json()) as BundleListResponse;
    expect(page.bundles.map((b) => b.version)).toEqual([1]);
    const bad = await get('/api/v1/bundles?limit=0&extra=1', site);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ApiErrorBody).error.code).toBe('validation_failed');
  });

  it('answers latest and a version with manifest, jws, hash and size', async () => {
    expect(v2).toMatchObject({ version: 2, manifest: { bundleVersion: 2, format: 'casam-router-bundle' } });
    const v1 = (await (await get('/api/v1/bundles/1', site)).json()) as BundleDetail;
    expect(v1.version).toBe(1);
    expect(v1.manifest.tasks[0].adapterVersion).toBe(1);
    const missing = await get('/api/v1/bundles/99', site);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ApiErrorBody).error.code).toBe('bundle_not_found');
    for (const bad of ['0', 'abc', '1.5', '-1', '9999999999']) {
      const r = await get(`/api/v1/bundles/${bad}`, site);
      expect(r.status).toBe(400);
      expect(((await r.json()) as ApiErrorBody).error.code).toBe('invalid_bundle_version');
    }
  });

  it('refuses callers without a token and with a bad one', async () => {
    expect((await get('/api/v1/bundles')).status).toBe(401);
    expect((await get('/api/v1/bundles/2/archive')).status).toBe(401);
    const r = await get('/api/v1/bundles/latest', 'garbage');
    expect(((await r.json()) as ApiErrorBody).error.code).toBe('invalid_token');
  });

  it('serves the archive with its sha256 as ETag, and 304 for a matching If-None-Match', async () => {
    const res = await get('/api/v1/bundles/2/archive', site);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${v2.contentHash}"`);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    expect(res.headers.get('content-length')).toBe(String(v2.size));
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(v2.size);
    expect((await t.blobStore.get(v2.contentHash)).equals(body)).toBe(true);

    const again = await get('/api/v1/bundles/2/archive', site, { 'if-none-match': `"${v2.contentHash}"` });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(`"${v2.contentHash}"`);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    const stale = await get('/api/v1/bundles/2/archive', site, { 'if-none-match': '"0000"' });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('resumes with byte ranges: 206 with Content-Range, 416 outside, full body when If-Range is stale', async () => {
    const whole = await t.blobStore.get(v2.contentHash);
    const part = await get('/api/v1/bundles/2/archive', viewer, { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${v2.size}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(1000, 2000))).toBe(true);

    const tail = await get('/api/v1/bundles/2/archive', site, {
      range: `bytes=${v2.size - 100}-`,
      'if-range': `"${v2.contentHash}"`,
    });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(v2.size - 100))).toBe(true);

    const outside = await get('/api/v1/bundles/2/archive', site, { range: `bytes=${v2.size}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${v2.size}`);
    expect(((await outside.json()) as ApiErrorBody).error.code).toBe('range_not_satisfiable');

    const changed = await get('/api/v1/bundles/2/archive', site, {
      range: 'bytes=0-9',
      'if-range': '"other"',
    });
    expect(changed.status).toBe(200);
    expect((await changed.arrayBuffer()).byteLength).toBe(v2.size);
  });

  it('rotates signing keys for admins only, and keeps old bundles verifiable', async () => {
    expect(
      (
        await fetch(`${t.url}/api/v1/signing-keys/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${viewer}` },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await fetch(`${t.url}/api/v1/signing-keys/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${site}` },
        })
      ).status,
    ).toBe(403);
    const rotate = async () =>
      (await (
        await fetch(`${t.url}/api/v1/signing-keys/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}` },
        })
      ).json()) as RotateSigningKeyResponse;
    const first = await rotate();
    expect(first.action).toBe('created_pending');
    const listed = (await (await get('/api/v1/signing-keys', viewer)).json()) as SigningKeyListResponse;
    expect(listed.keys.map((k) => k.status)).toEqual(['active', 'pending']);
    const second = await rotate();
    expect(second).toMatchObject({ action: 'activated', retired: { kid: v2.kid } });
    const jwks = (await (await get('/.well-known/jwks.json')).json()) as BundleJwks;
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([v2.kid, second.key.kid].sort());
    await compactVerify(v2.jws, createLocalJWKSet(jwks)); // signed by the now retired key
    const audit = await t.db.prisma.auditEvent.findMany({
      where: { action: { startsWith: 'signing_key.' }, actorType: 'admin' },
    });
    expect(audit).toHaveLength(2);
    expect(audit.every((a) => a.address === '127.0.0.1' && a.correlationId)).toBe(true);
  });
});
