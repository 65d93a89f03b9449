import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { UploadSessionRepository } from './upload-session.repository';

const h = (c: string) => c.repeat(64);

describeEachBackend('UploadSessionRepository', (db) => {
  let repo: UploadSessionRepository;
  let siteId: string;
  let taskId: string;

  beforeEach(async () => {
    await truncateAll(db());
    repo = new UploadSessionRepository(db());
    const p = db().prisma;
    siteId = (await p.site.create({ data: { name: 'S', status: 'approved' } })).id;
    taskId = (
      await p.task.create({
        data: {
          name: 't',
          modality: 'CT',
          targetStructures: ['liver'],
          baseModelFingerprint: 'fp',
          baseModelPreset: 'casam-tiny',
          embeddingChannels: 64,
          proposedBySiteId: siteId,
          status: 'approved',
        },
      })
    ).id;
    for (const c of ['a', 'b', 'c', 'd'])
      await p.blob.create({ data: { hash: h(c), size: 1n, store: 'fs' } });
  });

  const open = () =>
    repo.create({
      siteId,
      taskId,
      totalSize: 2,
      sha256: h('f'),
      chunkSize: 65536,
      chunkCount: 1,
      expiresAt: new Date(Date.now() + 60_000),
    });
  const version = (blob: string) => ({
    taskId,
    siteId,
    adapterBlobHash: h(blob),
    sizeBytes: 1,
    tauStats: { tau: 1 },
    metrics: {},
    baseModelFingerprint: 'fp',
  });

  it('records a chunk once per index; a second record of the index reports false', async () => {
    const s = await open();
    expect(await repo.addChunk({ sessionId: s.id, index: 0, size: 1, sha256: h('a') })).toBe(true);
    expect(await repo.addChunk({ sessionId: s.id, index: 0, size: 1, sha256: h('b') })).toBe(false);
    expect((await repo.findById(s.id))!.chunks).toEqual([{ index: 0, sha256: h('a'), size: 1 }]);
  });

  it('numbers versions per task without gaps when uploads complete at the same time', async () => {
    const sessions = await Promise.all([open(), open(), open()]);
    const done = await Promise.all(
      sessions.map((s, i) => repo.complete(s.id, version('abc'[i]), new Date())),
    );
    expect(done.every((d) => d !== null)).toBe(true);
    const versions = await db().prisma.adapterVersion.findMany({
      where: { taskId },
      orderBy: { version: 'asc' },
    });
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3]);
  });

  it('completes a session once: a concurrent second completion gets null and creates nothing', async () => {
    const s = await open();
    await repo.addChunk({ sessionId: s.id, index: 0, size: 1, sha256: h('d') });
    const [x, y] = await Promise.all([
      repo.complete(s.id, version('a'), new Date()),
      repo.complete(s.id, version('b'), new Date()),
    ]);
    expect([x, y].filter((r) => r !== null)).toHaveLength(1);
    expect((x ?? y)!.releasedChunks).toEqual([h('d')]);
    expect(await db().prisma.adapterVersion.count()).toBe(1);
    const row = await repo.findById(s.id);
    expect([row!.status, row!.chunks, row!.adapterVersion?.id]).toEqual([
      'completed',
      [],
      (x ?? y)!.adapterVersionId,
    ]);
  });

  it('closes (aborts or expires) only open sessions and releases their chunks', async () => {
    const s = await open();
    await repo.addChunk({ sessionId: s.id, index: 0, size: 1, sha256: h('a') });
    expect(await repo.close(s.id, 'aborted', 'bad file')).toEqual([h('a')]);
    expect(await repo.close(s.id, 'expired', 'late')).toBeNull();
    expect(await repo.findById(s.id)).toMatchObject({
      status: 'aborted',
      statusReason: 'bad file',
      chunks: [],
    });
  });

  it('lists expired open sessions and releases chunks left on closed ones', async () => {
    const s = await open();
    await db().prisma.uploadSession.update({
      where: { id: s.id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    expect((await repo.listExpired(new Date())).map((x) => x.id)).toEqual([s.id]);
    const other = await open();
    await repo.addChunk({ sessionId: other.id, index: 0, size: 1, sha256: h('c') });
    // A crash between "completed" and deleting the chunk rows leaves rows behind.
    await db().prisma.uploadSession.update({ where: { id: other.id }, data: { status: 'completed' } });
    expect(await repo.releaseLeftoverChunks()).toEqual([h('c')]);
    expect(await db().prisma.uploadChunk.count()).toBe(0);
  });
});
