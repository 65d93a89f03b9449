import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { afterAll, beforeEach, expect, it } from 'vitest';
import { type BundleManifest, readUstar } from '@casam/protocol';
import { AuditEventRepository } from '../audit/audit-event.repository';
import { AuditService } from '../audit/audit.service';
import { BlobRepository } from '../blobs/blob.repository';
import type { BlobStore } from '../blobs/blob-store';
import { FsBlobStore } from '../blobs/fs-blob-store';
import { PostgresBlobStore } from '../blobs/postgres-blob-store';
import { Clock } from '../common/clock';
import type { Database } from '../database/database';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import { FederationStatsRepository } from '../metrics/federation-stats.repository';
import { MetricsService } from '../metrics/metrics.service';
import { SigningKeyRepository } from '../signing-keys/signing-key.repository';
import { SigningKeysService } from '../signing-keys/signing-keys.service';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { BundleBuildError, BundleBuilderService } from './bundle-builder.service';
import { BundleRepository } from './bundle.repository';
import { seedAdapter, seedAdminAndSite, seedTask } from '../../testing/bundle-test-data';

class SteppingClock extends Clock {
  t = Date.parse('2026-04-01T08:00:00.000Z');
  override now(): Date {
    return new Date((this.t += 1000));
  }
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describeEachBackend('BundleBuilderService', (db: () => Database) => {
  let store: BlobStore;
  let blobs: BlobRepository;
  let clock: SteppingClock;
  let events: CoordinatorEvents;
  let published: CoordinatorEvent[];
  let adminId: string;
  let siteId: string;
  const secret = new Uint8Array(32).fill(8);

  /** One replica's builder (own signing-key service and in-process queue) on the shared database and store. */
  const builder = (blobStore: BlobStore = store) =>
    new BundleBuilderService(
      new BundleRepository(db()),
      blobStore,
      blobs,
      new SigningKeysService(
        new SigningKeyRepository(db()),
        new AuditService(new AuditEventRepository(db())),
        clock,
        secret,
      ),
      events,
      new AuditService(new AuditEventRepository(db())),
      clock,
      new MetricsService(new FederationStatsRepository(db())),
    );
  const keys = () =>
    new SigningKeysService(
      new SigningKeyRepository(db()),
      new AuditService(new AuditEventRepository(db())),
      clock,
      secret,
    );
  const bundles = () => db().prisma.routerBundle.findMany({ orderBy: { version: 'asc' } });

  beforeEach(async () => {
    await truncateAll(db());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-bundle-builder-'));
    dirs.push(dir);
    store = await FsBlobStore.open(dir);
    blobs = new BlobRepository(db());
    clock = new SteppingClock();
    events = new CoordinatorEvents();
    published = [];
    events.on('bundle.published', (e) => void published.push(e));
    ({ adminId, siteId } = await seedAdminAndSite(db()));
  });

  async function archiveOf(
    version: number,
  ): Promise<{ bytes: Buffer; manifest: BundleManifest; jws: string }> {
    const row = await db().prisma.routerBundle.findUniqueOrThrow({ where: { version } });
    const bytes = await store.get(row.contentHash);
    return { bytes, manifest: row.manifest as unknown as BundleManifest, jws: row.jws };
  }

  it('publishes nothing while nothing is approved', async () => {
    const t = await seedTask(db(), { siteId, adminId, name: 'liver' });
    await seedAdapter(db(), store, blobs, { taskId: t, siteId, adminId, version: 1, status: 'pending' });
    const r = await builder().reconcile({ reason: 'startup', adminId: null });
    expect(r).toEqual({ published: null, latest: null });
    expect(await bundles()).toEqual([]);
  });

  it('publishes a signed, deterministic ustar bundle with the approved adapters', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const t2 = await seedTask(db(), { siteId, adminId, name: 'spleen' });
    const a1 = await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1, size: 1000 });
    const a2 = await seedAdapter(db(), store, blobs, {
      taskId: t2,
      siteId,
      adminId,
      version: 1,
      size: 5000,
      seed: 9,
    });
    const b = builder();
    const r = await b.reconcile({ reason: 'adapter.approved', adminId });
    expect(r.published?.version).toBe(1);

    const { bytes, manifest, jws } = await archiveOf(1);
    const entries = readUstar(bytes);
    const sorted = [
      { id: t1, a: a1 },
      { id: t2, a: a2 },
    ].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(entries.map((e) => e.name)).toEqual([
      'manifest.json',
      'manifest.jws',
      ...sorted.map((s) => `adapters/${s.id}.safetensors`),
    ]);
    const file = (name: string) => {
      const e = entries.find((x) => x.name === name)!;
      return bytes.subarray(e.offset, e.offset + e.size);
    };
    for (const s of sorted) expect(file(`adapters/${s.id}.safetensors`).equals(s.a.bytes)).toBe(true);
    expect(file('manifest.jws').toString()).toBe(jws);

    // the JWS signs exactly manifest.json, with the published key
    const verified = await compactVerify(jws, createLocalJWKSet(await keys().jwks()));
    expect(Buffer.from(verified.payload).equals(file('manifest.json'))).toBe(true);
    expect(decodeProtectedHeader(jws)).toMatchObject({ alg: 'EdDSA', typ: 'casam-bundle+jws' });
    const signed = JSON.parse(file('manifest.json').toString()) as BundleManifest;
    expect(signed).toEqual(manifest);
    expect(signed).toMatchObject({
      format: 'casam-router-bundle',
      bundleVersion: 1,
      protocolVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/),
      baseModel: { fingerprint: expect.stringMatching(/^sha256:/), preset: 'casam-tiny', channels: 64 },
    });
    expect(signed.tasks.map((t) => t.taskId)).toEqual(sorted.map((s) => s.id));
    expect(signed.tasks[0]).toEqual({
      taskId: sorted[0].id,
      name: sorted[0].id === t1 ? 'liver' : 'spleen',
      modality: 'CT',
      targetStructures: ['liver', 'spleen'],
      adapterVersion: 1,
      adapterVersionId: sorted[0].a.id,
      tau: 0.41,
      tauStats: {
        tau: 0.41,
        p95: 0.36,
        p99: expect.closeTo(0.46, 12) as number,
        mean: 0.2,
        std: 0.05,
        n: 120,
        percentile: 97,
      },
      sha256: sorted[0].a.hash,
      size: sorted[0].a.bytes.length,
      path: `adapters/${sorted[0].id}.safetensors`,
    });

    // content-addressed, registered, listed by tar
    const row = (await bundles())[0];
    expect(row.contentHash).toBe(r.published?.contentHash);
    expect(await blobs.find(row.contentHash)).toMatchObject({
      size: bytes.length,
      mediaType: 'application/x-tar',
    });
    const tarFile = path.join(dirs[dirs.length - 1], 'bundle.tar');
    fs.writeFileSync(tarFile, bytes);
    expect(execFileSync('tar', ['tf', tarFile], { encoding: 'utf8' }).trim().split('\n')).toHaveLength(4);

    // announced and audited with the admin who caused it
    expect(published).toEqual([
      { type: 'bundle.published', version: 1, contentHash: row.contentHash, createdAt: signed.createdAt },
    ]);
    const audit = await new AuditEventRepository(db()).list({ action: 'bundle.published' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorType: 'admin',
      actorId: adminId,
      targetType: 'router_bundle',
      targetId: '1',
    });
    expect(row.builtById).toBe(adminId);
  });

  it('publishes again only when the content changes, and follows the newest approved version', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    const b = builder();
    await b.reconcile({ reason: 'manual', adminId: null });
    expect((await b.reconcile({ reason: 'manual', adminId: null })).published).toBeNull();
    expect((await builder().reconcile({ reason: 'startup', adminId: null })).published).toBeNull();

    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 2, status: 'pending' });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 3, status: 'rejected' });
    expect((await b.reconcile({ reason: 'manual', adminId: null })).published).toBeNull();

    const a4 = await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 4 });
    const r = await b.reconcile({ reason: 'manual', adminId: null });
    expect(r.published?.version).toBe(2);
    expect(
      (await archiveOf(2)).manifest.tasks.map((t) => [t.adapterVersion, t.adapterVersionId, t.sha256]),
    ).toEqual([[4, a4.id, a4.hash]]);
    expect((await bundles()).map((x) => x.version)).toEqual([1, 2]); // history kept
  });

  it("names a version 2 adapter's format and decoder delta in its entry; a version 1 entry stays as before", async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const t2 = await seedTask(db(), { siteId, adminId, name: 'spleen' });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    const lora = { rank: 4, alpha: 8, layers: ['transformer.layers.0.self_attn.q_proj', 'x.y'] };
    await seedAdapter(db(), store, blobs, { taskId: t2, siteId, adminId, version: 1, decoderLora: lora });
    const b = builder();
    expect((await b.reconcile({ reason: 'manual', adminId: null })).published?.version).toBe(1);
    const { bytes, manifest } = await archiveOf(1);
    const entry = readUstar(bytes).find((e) => e.name === 'manifest.json')!;
    const signed = JSON.parse(bytes.subarray(entry.offset, entry.offset + entry.size).toString());
    expect(signed).toEqual(manifest);
    const byTask = new Map(manifest.tasks.map((t) => [t.taskId, t]));
    expect(byTask.get(t2)).toMatchObject({
      adapterFormatVersion: 2,
      decoderLora: { rank: 4, alpha: 8, layers: 2 },
    });
    expect(Object.keys(byTask.get(t1)!)).not.toContain('adapterFormatVersion');
    expect(Object.keys(byTask.get(t1)!)).not.toContain('decoderLora');
    // Read back from jsonb, the same content: nothing to publish.
    expect((await builder().reconcile({ reason: 'startup', adminId: null })).published).toBeNull();
  });

  it('publishes a bundle without a retired task, and an empty one when none is left', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const t2 = await seedTask(db(), { siteId, adminId, name: 'spleen' });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    await seedAdapter(db(), store, blobs, { taskId: t2, siteId, adminId, version: 1 });
    const b = builder();
    await b.reconcile({ reason: 'manual', adminId: null });
    await db().prisma.task.update({ where: { id: t1 }, data: { status: 'retired' } });
    await b.reconcile({ reason: 'task.status_changed', adminId });
    expect((await archiveOf(2)).manifest.tasks.map((t) => t.taskId)).toEqual([t2]);
    expect(readUstar((await archiveOf(2)).bytes).map((e) => e.name)).toEqual([
      'manifest.json',
      'manifest.jws',
      `adapters/${t2}.safetensors`,
    ]);
    await db().prisma.task.update({ where: { id: t2 }, data: { status: 'retired' } });
    await b.reconcile({ reason: 'task.status_changed', adminId });
    const empty = await archiveOf(3);
    expect(empty.manifest).toMatchObject({ bundleVersion: 3, baseModel: null, tasks: [] });
    expect(readUstar(empty.bytes).map((e) => e.name)).toEqual(['manifest.json', 'manifest.jws']);
    expect((await b.reconcile({ reason: 'manual', adminId: null })).published).toBeNull();
  });

  it('lets concurrent builders on two replicas publish each content exactly once', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const replicas = [builder(), builder(), builder()];
    for (let round = 1; round <= 3; round++) {
      await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: round });
      const results = await Promise.all(
        replicas.map((r) => r.reconcile({ reason: 'adapter.approved', adminId })),
      );
      expect(results.filter((r) => r.published).length).toBe(1);
      expect(new Set(results.map((r) => r.latest?.version))).toEqual(new Set([round]));
    }
    const rows = await bundles();
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(rows.map((r) => (r.manifest as unknown as BundleManifest).tasks[0].adapterVersion)).toEqual([
      1, 2, 3,
    ]);
    // losers left no archive behind: every bundle blob in the store belongs to a published version
    const registered = await db().prisma.blob.findMany({ where: { mediaType: 'application/x-tar' } });
    expect(registered.map((b) => b.hash).sort()).toEqual(rows.map((r) => r.contentHash).sort());
    expect(published.map((e) => (e as { version: number }).version)).toEqual([1, 2, 3]);
  });

  it('runs once for a burst of triggers in one process', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    const b = builder();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => b.reconcile({ reason: 'manual', adminId: null })),
    );
    expect((await bundles()).length).toBe(1);
    expect(results.every((r) => r.latest?.version === 1)).toBe(true);
  });

  it('reacts to adapter.approved and task.status_changed events', async () => {
    const b = builder();
    await b.onApplicationBootstrap();
    try {
      const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
      const a = await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
      await events.emit({ type: 'adapter.approved', adapterVersionId: a.id, taskId: t1 });
      expect((await bundles()).map((r) => [r.version, r.builtById])).toEqual([[1, adminId]]);
      await db().prisma.task.update({ where: { id: t1 }, data: { status: 'retired' } });
      await events.emit({ type: 'task.status_changed', taskId: t1, status: 'retired', previous: 'approved' });
      expect((await bundles()).map((r) => r.version)).toEqual([1, 2]);
    } finally {
      b.onModuleDestroy();
    }
  });

  it('refuses to publish when an adapter file is missing or damaged, leaving nothing behind', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const a = await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    const file = path.join(dirs[dirs.length - 1], 'objects', a.hash.slice(0, 2), a.hash.slice(2, 4), a.hash);
    const b = builder();

    const damaged = Buffer.from(a.bytes);
    damaged[7] ^= 0xff;
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, damaged);
    await expect(b.reconcile({ reason: 'manual', adminId: null })).rejects.toMatchObject({
      code: 'blob_corrupted',
    });

    fs.rmSync(file);
    await expect(b.reconcile({ reason: 'manual', adminId: null })).rejects.toThrow(BundleBuildError);
    await expect(b.reconcile({ reason: 'manual', adminId: null })).rejects.toThrow(
      /missing from the blob store/,
    );

    expect(await bundles()).toEqual([]);
    const left: string[] = [];
    for await (const h of store.list()) left.push(h);
    expect(left).toEqual([]); // no half-built archive
    expect(published).toEqual([]);
  });

  it('leaves out a task whose base model differs from the earliest approved one', async () => {
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver', decidedAt: new Date('2026-01-01') });
    const t2 = await seedTask(db(), {
      siteId,
      adminId,
      name: 'other',
      fingerprint: `sha256:${'cd'.repeat(32)}`,
      decidedAt: new Date('2026-02-01'),
    });
    await seedAdapter(db(), store, blobs, { taskId: t1, siteId, adminId, version: 1 });
    await seedAdapter(db(), store, blobs, { taskId: t2, siteId, adminId, version: 1 });
    const desired = await builder().desired();
    expect(desired.tasks.map((t) => t.taskId)).toEqual([t1]);
  });

  it('builds the same bundle through the Postgres blob store', async () => {
    const pgStore = new PostgresBlobStore(db());
    const t1 = await seedTask(db(), { siteId, adminId, name: 'liver' });
    const a = await seedAdapter(db(), pgStore, blobs, {
      taskId: t1,
      siteId,
      adminId,
      version: 1,
      size: 3 * 1024 * 1024 + 5,
    });
    const r = await builder(pgStore).reconcile({ reason: 'manual', adminId: null });
    const bytes = await pgStore.get(r.published!.contentHash);
    const entries = readUstar(bytes);
    const e = entries[2];
    expect(bytes.subarray(e.offset, e.offset + e.size).equals(a.bytes)).toBe(true);
  });
});
