import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { BlobInUseError, BlobRepository } from './blob.repository';

const h = (c: string) => c.repeat(64);

describeEachBackend('BlobRepository', (db) => {
  let blobs: BlobRepository;
  beforeEach(async () => {
    await truncateAll(db());
    blobs = new BlobRepository(db());
  });

  it('records the same blob from many concurrent callers (identical chunks of two uploads, on two replicas)', async () => {
    const other = new BlobRepository(db()); // another replica
    const all = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? other : blobs).record({ hash: h('c'), size: 65_536, store: 'postgres' }),
      ),
    );
    expect(new Set(all.map((r) => r.hash))).toEqual(new Set([h('c')]));
    expect(await blobs.find(h('c'))).toMatchObject({ hash: h('c'), size: 65_536 });
  });

  it('records blobs idempotently and finds them', async () => {
    const first = await blobs.record({
      hash: h('a'),
      size: 5_000_000_000,
      store: 'fs',
      mediaType: 'application/octet-stream',
    });
    expect(first).toMatchObject({
      hash: h('a'),
      size: 5_000_000_000,
      store: 'fs',
      mediaType: 'application/octet-stream',
    });
    const again = await blobs.record({ hash: h('a'), size: 5_000_000_000, store: 'postgres' });
    expect(again).toEqual(first);
    expect(await blobs.find(h('a'))).toEqual(first);
    expect(await blobs.find(h('b'))).toBeNull();
    expect(await blobs.totalSize()).toBe(5_000_000_000);
  });

  it('lists unreferenced blobs and refuses to delete referenced ones', async () => {
    const p = db().prisma;
    for (const c of ['a', 'b', 'c']) await blobs.record({ hash: h(c), size: 1, store: 'fs' });
    const site = await p.site.create({ data: { name: 'S' } });
    const task = await p.task.create({
      data: {
        name: 'liver',
        modality: 'CT',
        targetStructures: ['liver'],
        baseModelFingerprint: 'fp',
        baseModelPreset: 'casam-tiny',
        embeddingChannels: 64,
        proposedBySiteId: site.id,
      },
    });
    await p.adapterVersion.create({
      data: {
        taskId: task.id,
        siteId: site.id,
        version: 1,
        adapterBlobHash: h('a'),
        sizeBytes: 1,
        tauStats: { tau: 0.4 },
        metrics: {},
        baseModelFingerprint: 'fp',
      },
    });
    // An open upload's chunk is not garbage either.
    const session = await p.uploadSession.create({
      data: {
        siteId: site.id,
        taskId: task.id,
        purpose: 'adapter',
        totalSize: 1,
        sha256: h('b'),
        chunkSize: 65536,
        chunkCount: 1,
        expiresAt: new Date(Date.now() + 60_000),
      },
    });
    await p.uploadChunk.create({ data: { sessionId: session.id, index: 0, size: 1, sha256: h('b') } });
    const later = new Date(Date.now() + 60_000);
    expect((await blobs.listUnreferenced(later)).map((b) => b.hash)).toEqual([h('c')]);
    expect(await blobs.listUnreferenced(new Date(0))).toEqual([]);
    await expect(blobs.delete(h('a'))).rejects.toBeInstanceOf(BlobInUseError);
    await expect(blobs.delete(h('b'))).rejects.toBeInstanceOf(BlobInUseError);
    expect(await blobs.delete(h('c'))).toBe(true);
    expect(await blobs.delete(h('c'))).toBe(false);
  });
});
