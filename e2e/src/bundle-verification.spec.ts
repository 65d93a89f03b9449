/* eslint-disable @nx/enforce-module-boundaries -- the e2e project may depend on apps (its depConstraint lists
   type:app), but Nx forbids importing apps outright; this spec needs the coordinator's builder and the site agent's
   verifier in one process to check bundles the real coordinator built against the real site-side check. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundleDetail, readUstar, type RotateSigningKeyResponse } from '@casam/protocol';
import { createCoordinatorApp } from '@casam/coordinator/src/app.factory';
import { AccessTokenService } from '@casam/coordinator/src/auth/access-token.service';
import { BlobRepository } from '@casam/coordinator/src/blobs/blob.repository';
import { FsBlobStore } from '@casam/coordinator/src/blobs/fs-blob-store';
import { BundleBuilderService } from '@casam/coordinator/src/bundles/bundle-builder.service';
import { seedAdapter, seedAdminAndSite, seedTask } from '@casam/coordinator/src/bundles/bundle-test-data';
import { parseConfig } from '@casam/coordinator/src/config/coordinator-config';
import { EmbeddedDatabase } from '@casam/coordinator/src/database/embedded-database';
import { migrateDeploy } from '@casam/coordinator/src/database/migrator';
import { BundleVerificationError, verifyBundle } from '@casam/site-agent/src/bundle/verify-bundle';

/**
 * The site agent's bundle check against bundles a real coordinator built, signed and served: what a site pulls
 * over HTTP (archive, ETag, JWKS) verifies; altered bytes, a foreign key and an unknown kid do not.
 */
describe('site-agent verifyBundle on coordinator-built bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-bundle-'));
  let app: INestApplication;
  let db: EmbeddedDatabase;
  let url: string;
  let adminToken: string;
  let siteToken: string;
  let ids: { adminId: string; siteId: string };
  let taskId: string;

  const get = async (path: string): Promise<Response> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${siteToken}` } });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const pull = async (version: number) => {
    const res = await get(`/api/v1/bundles/${version}/archive`);
    return {
      archive: new Uint8Array(await res.arrayBuffer()),
      etag: res.headers.get('etag')!.replace(/"/g, ''),
    };
  };
  const jwks = async () => (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const code = async (p: Promise<unknown>) =>
    p.then(
      () => 'verified',
      (e: unknown) => (e instanceof BundleVerificationError ? e.code : String(e)),
    );

  beforeAll(async () => {
    db = await EmbeddedDatabase.open();
    await migrateDeploy(db.sql);
    const blobStore = await FsBlobStore.open(join(dir, 'blobs'));
    const config = parseConfig({ COORDINATOR_DATA_DIR: dir, COORDINATOR_PORT: '0' }, dir);
    app = await createCoordinatorApp({ config, database: db, blobStore, secret: randomBytes(32) });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

    ids = await seedAdminAndSite(db, 'e2e');
    const key = await db.prisma.siteKey.create({
      data: { siteId: ids.siteId, fingerprint: 'e2e-fp', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' } },
    });
    const tokens = app.get(AccessTokenService);
    siteToken = (await tokens.issueSite(ids.siteId, key.id)).token;
    adminToken = (await tokens.issueAdmin(ids.adminId, 'admin')).token;
    const blobs = app.get(BlobRepository);
    taskId = await seedTask(db, { ...ids, name: 'liver' });
    const t2 = await seedTask(db, { ...ids, name: 'kidney' });
    await seedAdapter(db, blobStore, blobs, { taskId, ...ids, version: 1, size: 200_000 });
    await seedAdapter(db, blobStore, blobs, { taskId: t2, ...ids, version: 1, size: 150_001, seed: 7 });
    await app.get(BundleBuilderService).reconcile({ reason: 'manual', adminId: ids.adminId });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies what a site pulls: archive, its ETag, the JWKS', async () => {
    const latest = (await (await get('/api/v1/bundles/latest')).json()) as BundleDetail;
    const { archive, etag } = await pull(latest.version);
    expect(etag).toBe(latest.contentHash);
    const v = await verifyBundle(archive, await jwks(), { expectedContentHash: etag });
    expect(v.manifest).toEqual(latest.manifest);
    expect(v.kid).toBe(latest.kid);
    expect(v.adapters.size).toBe(2);
  });

  it('refuses the same bundle with an altered adapter byte, an altered manifest, or a truncated download', async () => {
    const { archive, etag } = await pull(1);
    const entries = readUstar(archive);
    const adapter = entries.find((e) => e.name.startsWith('adapters/'))!;
    const flipped = archive.slice();
    flipped[adapter.offset + 1234] ^= 0x01;
    expect(await code(verifyBundle(flipped, await jwks()))).toBe('adapter_hash_mismatch');
    expect(await code(verifyBundle(flipped, await jwks(), { expectedContentHash: etag }))).toBe(
      'content_hash_mismatch',
    );

    const manifest = entries.find((e) => e.name === 'manifest.json')!;
    const edited = archive.slice();
    const text = new TextDecoder().decode(edited.subarray(manifest.offset, manifest.offset + manifest.size));
    const at = text.indexOf('"tau":') + 6;
    edited[manifest.offset + at] = edited[manifest.offset + at] === 0x39 ? 0x38 : 0x39; // change a τ digit
    expect(await code(verifyBundle(edited, await jwks()))).toBe('manifest_mismatch');

    expect(await code(verifyBundle(archive.subarray(0, archive.byteLength - 700), await jwks()))).toBe(
      'archive_malformed',
    );
  });

  it('refuses a bundle against another coordinator key set (unknown kid)', async () => {
    const { archive } = await pull(1);
    const foreign: JSONWebKeySet = {
      keys: [
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: Buffer.alloc(32, 1).toString('base64url'),
          kid: 'someone-else',
          alg: 'EdDSA',
        },
      ],
    };
    expect(await code(verifyBundle(archive, foreign))).toBe('unknown_kid');
  });

  it('refuses a key set whose key under the bundle kid is a different key', async () => {
    const { archive } = await pull(1);
    const set = await jwks();
    const swapped: JSONWebKeySet = {
      keys: set.keys.map((k) => ({ ...k, x: Buffer.alloc(32, 9).toString('base64url') })),
    };
    expect(await code(verifyBundle(archive, swapped))).toBe('signature_invalid');
  });

  it('keeps old bundles verifiable after a key rotation, and signs the next bundle with the new key', async () => {
    const rotate = async () =>
      (await (
        await fetch(`${url}/api/v1/signing-keys/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}` },
        })
      ).json()) as RotateSigningKeyResponse;
    await rotate();
    const { key } = await rotate();
    await db.prisma.task.update({ where: { id: taskId }, data: { status: 'retired' } });
    const { published } = await app
      .get(BundleBuilderService)
      .reconcile({ reason: 'task.status_changed', adminId: ids.adminId });
    expect(published?.version).toBe(2);

    const set = await jwks();
    const v1 = await verifyBundle((await pull(1)).archive, set);
    const v2 = await verifyBundle((await pull(2)).archive, set);
    expect(v2.kid).toBe(key.kid);
    expect(v1.kid).not.toBe(key.kid);
    expect(v2.manifest.tasks.map((t) => t.taskId)).not.toContain(taskId);
  });
});
