import { createHash } from 'node:crypto';
import type { TaskStatus, AdapterVersionStatus } from '@prisma/client';
import type { BlobRepository } from '../src/blobs/blob.repository';
import type { BlobStore } from '../src/blobs/blob-store';
import type { Database } from '../src/database/database';

/** Test data for bundle specs: database rows as the task and upload modules would leave them. */

export const TEST_FINGERPRINT = `sha256:${'ab'.repeat(32)}`;

/** Deterministic bytes standing in for an adapter file (the builder never parses adapters). */
export function adapterBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let block = Buffer.alloc(0);
  for (let i = 0; i < size; i += 32) {
    block = createHash('sha256').update(block).update(String(seed)).digest();
    block.copy(out, i);
  }
  return out;
}

export async function seedAdminAndSite(
  db: Database,
  tag = 'a',
): Promise<{ adminId: string; siteId: string }> {
  const admin = await db.prisma.admin.create({
    data: { email: `bundle-admin-${tag}@example.org`, role: 'admin', passwordHash: '!' },
  });
  const site = await db.prisma.site.create({ data: { name: `bundle-site-${tag}`, status: 'approved' } });
  return { adminId: admin.id, siteId: site.id };
}

export async function seedTask(
  db: Database,
  t: {
    siteId: string;
    adminId: string;
    name: string;
    status?: TaskStatus;
    fingerprint?: string;
    decidedAt?: Date;
  },
): Promise<string> {
  const task = await db.prisma.task.create({
    data: {
      name: t.name,
      modality: 'CT',
      targetStructures: ['liver', 'spleen'],
      baseModelFingerprint: t.fingerprint ?? TEST_FINGERPRINT,
      baseModelPreset: 'casam-tiny',
      embeddingChannels: 64,
      status: t.status ?? 'approved',
      decidedById: t.adminId,
      decidedAt: t.decidedAt ?? new Date(),
      proposedBySiteId: t.siteId,
    },
  });
  return task.id;
}

export async function seedAdapter(
  db: Database,
  store: BlobStore,
  blobs: BlobRepository,
  a: {
    taskId: string;
    siteId: string;
    adminId: string;
    version: number;
    status?: AdapterVersionStatus;
    size?: number;
    seed?: number;
    tau?: number;
    /** Recorded as a version 2 adapter with this decoder delta (the bytes stay stand-ins). */
    decoderLora?: { rank: number; alpha: number; layers: string[] };
  },
): Promise<{ id: string; hash: string; bytes: Buffer }> {
  const bytes = adapterBytes(a.size ?? 3000, a.seed ?? a.version);
  const put = await store.put(bytes);
  await blobs.record({ hash: put.hash, size: put.size, store: store.driver });
  const tau = a.tau ?? 0.4 + a.version / 100;
  const row = await db.prisma.adapterVersion.create({
    data: {
      taskId: a.taskId,
      siteId: a.siteId,
      version: a.version,
      adapterBlobHash: put.hash,
      sizeBytes: put.size,
      tauStats: { tau, p95: tau - 0.05, p99: tau + 0.05, mean: 0.2, std: 0.05, n: 120, percentile: 97 },
      metrics: { iou: 0.8 },
      ...(a.decoderLora && { formatVersion: 2, decoderLora: a.decoderLora }),
      baseModelFingerprint: TEST_FINGERPRINT,
      status: a.status ?? 'approved',
      decidedById: a.adminId,
      decidedAt: new Date(),
    },
  });
  return { id: row.id, hash: put.hash, bytes };
}
