import { Injectable } from '@nestjs/common';
import type { Prisma, UploadChunk, UploadSession, UploadSessionStatus } from '@prisma/client';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';

export interface NewUploadSession {
  siteId: string;
  taskId: string;
  totalSize: number;
  sha256: string;
  chunkSize: number;
  chunkCount: number;
  expiresAt: Date;
}

export type UploadSessionWithChunks = UploadSession & {
  chunks: Pick<UploadChunk, 'index' | 'sha256' | 'size'>[];
  adapterVersion: { id: string } | null;
};

const WITH_CHUNKS = {
  chunks: { select: { index: true, sha256: true, size: true }, orderBy: { index: 'asc' } },
  adapterVersion: { select: { id: true } },
} as const;

/** Upload sessions and their received chunks (the chunks' bytes are blobs). */
@Injectable()
export class UploadSessionRepository {
  constructor(private readonly db: Database) {}

  create(s: NewUploadSession): Promise<UploadSessionWithChunks> {
    return this.db.prisma.uploadSession.create({
      data: { ...s, totalSize: BigInt(s.totalSize), purpose: 'adapter' },
      include: WITH_CHUNKS,
    });
  }

  findById(id: string): Promise<UploadSessionWithChunks | null> {
    return this.db.prisma.uploadSession.findUnique({ where: { id }, include: WITH_CHUNKS });
  }

  countOpen(siteId: string, now: Date): Promise<number> {
    return this.db.prisma.uploadSession.count({ where: { siteId, status: 'open', expiresAt: { gt: now } } });
  }

  findChunk(sessionId: string, index: number): Promise<UploadChunk | null> {
    return this.db.prisma.uploadChunk.findUnique({ where: { sessionId_index: { sessionId, index } } });
  }

  /** Records a received chunk; false when that index was recorded already (by a concurrent request). */
  async addChunk(chunk: {
    sessionId: string;
    index: number;
    size: number;
    sha256: string;
  }): Promise<boolean> {
    try {
      await this.db.prisma.uploadChunk.create({ data: chunk });
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  countChunks(sessionId: string): Promise<number> {
    return this.db.prisma.uploadChunk.count({ where: { sessionId } });
  }

  /** Forgets chunks whose bytes turned out to be gone, so the site sends them again. */
  async dropChunks(sessionId: string, indexes: number[]): Promise<void> {
    await this.db.prisma.uploadChunk.deleteMany({ where: { sessionId, index: { in: indexes } } });
  }

  /**
   * Compare-and-set from `open` to `aborted` or `expired`, deleting the chunk rows in the same transaction.
   * Returns the chunk hashes that were released (their blobs may now be garbage), or null when the session was
   * not open any more.
   */
  async close(
    id: string,
    to: Exclude<UploadSessionStatus, 'open' | 'completed'>,
    reason: string,
  ): Promise<string[] | null> {
    return this.db.prisma.$transaction(async (tx) => {
      const { count } = await tx.uploadSession.updateMany({
        where: { id, status: 'open' },
        data: { status: to, statusReason: reason.slice(0, 2000) },
      });
      if (count !== 1) return null;
      return releaseChunks(tx, id);
    });
  }

  /**
   * Completes a session: creates the adapter version (next version number of the task), marks the session
   * completed and deletes its chunk rows, all in one transaction. Null when the session was not open any more.
   */
  async complete(
    id: string,
    version: Omit<Prisma.AdapterVersionUncheckedCreateInput, 'version' | 'uploadSessionId'>,
    at: Date,
  ): Promise<{ adapterVersionId: string; releasedChunks: string[] } | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.prisma.$transaction(async (tx) => {
          const { count } = await tx.uploadSession.updateMany({
            where: { id, status: 'open' },
            data: { status: 'completed', completedAt: at, resultHash: version.adapterBlobHash },
          });
          if (count !== 1) return null;
          const last = await tx.adapterVersion.aggregate({
            where: { taskId: version.taskId },
            _max: { version: true },
          });
          const created = await tx.adapterVersion.create({
            data: { ...version, version: (last._max.version ?? 0) + 1, uploadSessionId: id },
            select: { id: true },
          });
          return { adapterVersionId: created.id, releasedChunks: await releaseChunks(tx, id) };
        });
      } catch (e) {
        // Two uploads of the same task completed at once and took the same version number: take the next.
        if (isUniqueViolation(e) && attempt < 5) continue;
        throw e;
      }
    }
  }

  /** Open sessions whose time ran out. */
  listExpired(now: Date, limit = 100): Promise<UploadSession[]> {
    return this.db.prisma.uploadSession.findMany({
      where: { status: 'open', expiresAt: { lte: now } },
      orderBy: { expiresAt: 'asc' },
      take: limit,
    });
  }

  /** Chunk rows left on sessions that are no longer open (a crash between steps); deletes them. */
  async releaseLeftoverChunks(limit = 1000): Promise<string[]> {
    const rows = await this.db.prisma.uploadChunk.findMany({
      where: { session: { status: { not: 'open' } } },
      select: { sessionId: true, index: true, sha256: true },
      take: limit,
    });
    for (const r of rows)
      await this.db.prisma.uploadChunk.deleteMany({ where: { sessionId: r.sessionId, index: r.index } });
    return [...new Set(rows.map((r) => r.sha256))];
  }
}

async function releaseChunks(tx: Prisma.TransactionClient, sessionId: string): Promise<string[]> {
  const chunks = await tx.uploadChunk.findMany({ where: { sessionId }, select: { sha256: true } });
  await tx.uploadChunk.deleteMany({ where: { sessionId } });
  return [...new Set(chunks.map((c) => c.sha256))];
}
