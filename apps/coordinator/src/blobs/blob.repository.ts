import { Injectable } from '@nestjs/common';
import type { Blob as BlobRow } from '@prisma/client';
import { ConflictError } from '../common/domain-error';
import { Database } from '../database/database';
import { isForeignKeyViolation, isUniqueViolation } from '../database/prisma-errors';
import type { BlobStoreDriver } from './blob-store';

export interface BlobRecord {
  hash: string;
  size: number;
  store: BlobStoreDriver;
  mediaType: string | null;
  createdAt: Date;
}

export class BlobInUseError extends ConflictError {
  constructor(hash: string) {
    super('blob_in_use', `blob ${hash} is still referenced by an adapter version or a router bundle`);
  }
}

/**
 * The registry of blobs the coordinator relies on (the `blobs` table): what exists, how big, in which store.
 * Adapter versions and router bundles reference it by hash, so a referenced blob cannot be deleted.
 */
@Injectable()
export class BlobRepository {
  constructor(private readonly db: Database) {}

  /** Registers a stored blob; registering it again is a no-op that returns the first record. */
  async record(blob: {
    hash: string;
    size: number;
    store: BlobStoreDriver;
    mediaType?: string | null;
  }): Promise<BlobRecord> {
    try {
      const row = await this.db.prisma.blob.upsert({
        where: { hash: blob.hash },
        create: {
          hash: blob.hash,
          size: BigInt(blob.size),
          store: blob.store,
          mediaType: blob.mediaType ?? null,
        },
        update: {},
      });
      return toRecord(row);
    } catch (e) {
      // Prisma's upsert reads, then inserts: a concurrent recorder of the same bytes (another upload with an
      // identical chunk, on this replica or another) may insert in between. Its row is the one we wanted.
      if (!isUniqueViolation(e)) throw e;
      const row = await this.db.prisma.blob.findUnique({ where: { hash: blob.hash } });
      if (!row) throw e;
      return toRecord(row);
    }
  }

  async find(hash: string): Promise<BlobRecord | null> {
    const row = await this.db.prisma.blob.findUnique({ where: { hash } });
    return row ? toRecord(row) : null;
  }

  /** Registered blobs no adapter version, router bundle or upload chunk references, created before `olderThan`. */
  async listUnreferenced(olderThan: Date, limit = 1000): Promise<BlobRecord[]> {
    const rows = await this.db.prisma.blob.findMany({
      where: {
        createdAt: { lt: olderThan },
        adapterOf: { none: {} },
        bundleOf: { none: {} },
        chunkOf: { none: {} },
      },
      orderBy: { createdAt: 'asc' },
      take: limit,
    });
    return rows.map(toRecord);
  }

  /** Unregisters a blob; false if it was not registered; BlobInUseError while anything references it. */
  async delete(hash: string): Promise<boolean> {
    try {
      return (await this.db.prisma.blob.deleteMany({ where: { hash } })).count === 1;
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new BlobInUseError(hash);
      throw e;
    }
  }

  async totalSize(): Promise<number> {
    const { _sum } = await this.db.prisma.blob.aggregate({ _sum: { size: true } });
    return Number(_sum.size ?? 0);
  }
}

function toRecord(row: BlobRow): BlobRecord {
  return {
    hash: row.hash,
    size: Number(row.size),
    store: row.store as BlobStoreDriver,
    mediaType: row.mediaType,
    createdAt: row.createdAt,
  };
}
