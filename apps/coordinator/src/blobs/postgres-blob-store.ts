import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Database, SqlClient } from '../database/database';
import { BlobCorruptedError, BlobNotFoundError } from './blob.errors';
import {
  assertBlobHash,
  BlobStore,
  type BlobSource,
  type BlobStat,
  type ByteRange,
  checkRange,
  chunksOf,
  PutMeter,
  type PutOptions,
  type PutResult,
  verifyBuffer,
  verifyingStream,
} from './blob-store';

/** Bytes per stored part: large enough to be cheap per byte, small enough to stream without buffering. */
export const DEFAULT_PART_SIZE = 1024 * 1024;

interface StoredBlobRow {
  size: string | number;
  part_count: number;
  part_size: number;
  staging_id: string;
}

/**
 * Blobs in the coordinator's own database (tables `stored_blobs` and `stored_blob_parts`), so several
 * coordinator replicas share them with no shared disk. Works on Postgres and on the embedded PGlite.
 *
 * A put streams the content into fixed-size parts under a fresh staging id, then claims the hash by inserting
 * the `stored_blobs` row. The blob exists from that insert on, all at once. When another put of the same
 * content claimed the hash first, this put's parts are deleted: puts are idempotent and safe to race. Parts of
 * a put that died half-way belong to no blob and are removed by `sweepStaging`.
 *
 * Bytes go through plain SQL, not Prisma, to avoid copying megabytes through the query engine.
 */
export class PostgresBlobStore extends BlobStore {
  readonly driver = 'postgres' as const;
  private readonly sql: Database['sql'];

  constructor(
    db: Database,
    private readonly partSize: number = DEFAULT_PART_SIZE,
  ) {
    super();
    this.sql = db.sql;
  }

  async put(source: BlobSource, options?: PutOptions): Promise<PutResult> {
    const meter = new PutMeter(options);
    const stagingId = randomUUID();
    let parts = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (all: boolean) => {
      if (pendingBytes < this.partSize && !(all && pendingBytes > 0)) return;
      const joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      let offset = 0;
      while (joined.length - offset >= this.partSize || (all && offset < joined.length)) {
        const part = joined.subarray(offset, offset + this.partSize);
        await this.sql.query('INSERT INTO stored_blob_parts (staging_id, index, data) VALUES ($1, $2, $3)', [
          stagingId,
          parts++,
          part,
        ]);
        offset += part.length;
      }
      const rest = joined.subarray(offset);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    };
    try {
      for await (const chunk of chunksOf(source)) {
        meter.add(chunk);
        pending.push(Buffer.from(chunk)); // a copy: the source may reuse its buffer
        pendingBytes += chunk.byteLength;
        await flush(false);
      }
      await flush(true);
      const hash = meter.finish();
      const created = await this.sql.transaction(async (tx) => {
        const claimed = await tx.query(
          `INSERT INTO stored_blobs (hash, size, part_count, part_size, staging_id) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (hash) DO NOTHING RETURNING hash`,
          [hash, meter.size, parts, this.partSize, stagingId],
        );
        if (claimed.length === 0) await deleteParts(tx, stagingId);
        return claimed.length === 1;
      });
      return { hash, size: meter.size, created };
    } catch (e) {
      await deleteParts(this.sql, stagingId).catch(() => undefined);
      throw e;
    }
  }

  async get(hash: string): Promise<Buffer> {
    const blob = await this.row(hash);
    const rows = await this.sql.query<{ data: Uint8Array }>(
      'SELECT data FROM stored_blob_parts WHERE staging_id = $1 ORDER BY index',
      [blob.staging_id],
    );
    if (rows.length !== blob.part_count)
      throw new BlobCorruptedError(hash, `${rows.length} parts, expected ${blob.part_count}`);
    return verifyBuffer(hash, Buffer.concat(rows.map((r) => r.data)));
  }

  async open(hash: string, range?: ByteRange): Promise<Readable> {
    const blob = await this.row(hash);
    const size = Number(blob.size);
    const r = range ? checkRange(range, size) : size > 0 ? { start: 0, end: size - 1 } : null;
    const sql = this.sql;
    async function* bytes(): AsyncIterable<Buffer> {
      if (!r) return;
      for (let i = Math.floor(r.start / blob.part_size); i <= Math.floor(r.end / blob.part_size); i++) {
        const [row] = await sql.query<{ data: Uint8Array }>(
          'SELECT data FROM stored_blob_parts WHERE staging_id = $1 AND index = $2',
          [blob.staging_id, i],
        );
        if (!row) throw new BlobCorruptedError(hash, `part ${i} is missing`);
        const offset = i * blob.part_size;
        const data = Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength);
        yield data.subarray(Math.max(r.start - offset, 0), Math.min(r.end - offset + 1, data.length));
      }
    }
    const stream = Readable.from(bytes());
    return range ? stream : stream.pipe(verifyingStream(hash, size));
  }

  async stat(hash: string): Promise<BlobStat | null> {
    assertBlobHash(hash);
    const [row] = await this.sql.query<{ size: string | number }>(
      'SELECT size FROM stored_blobs WHERE hash = $1',
      [hash],
    );
    return row ? { hash, size: Number(row.size) } : null;
  }

  async delete(hash: string): Promise<boolean> {
    assertBlobHash(hash);
    return this.sql.transaction(async (tx) => {
      const [row] = await tx.query<{ staging_id: string }>(
        'DELETE FROM stored_blobs WHERE hash = $1 RETURNING staging_id',
        [hash],
      );
      if (row) await deleteParts(tx, row.staging_id);
      return row !== undefined;
    });
  }

  async *list(): AsyncIterable<string> {
    let after = '';
    for (;;) {
      const rows = await this.sql.query<{ hash: string }>(
        'SELECT hash FROM stored_blobs WHERE hash > $1 ORDER BY hash LIMIT 1000',
        [after],
      );
      for (const r of rows) yield r.hash;
      if (rows.length < 1000) return;
      after = rows[rows.length - 1].hash;
    }
  }

  async ping(): Promise<void> {
    await this.sql.query('SELECT 1 FROM stored_blobs LIMIT 1');
  }

  /** Deletes parts of interrupted puts (no blob claims them) written before `olderThan`; returns how many. */
  async sweepStaging(olderThan: Date): Promise<number> {
    const rows = await this.sql.query(
      `DELETE FROM stored_blob_parts p WHERE p.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM stored_blobs b WHERE b.staging_id = p.staging_id)
       RETURNING p.index`,
      [olderThan],
    );
    return rows.length;
  }

  private async row(hash: string): Promise<StoredBlobRow> {
    assertBlobHash(hash);
    const [row] = await this.sql.query<StoredBlobRow>(
      'SELECT size, part_count, part_size, staging_id FROM stored_blobs WHERE hash = $1',
      [hash],
    );
    if (!row) throw new BlobNotFoundError(hash);
    return row;
  }
}

async function deleteParts(sql: SqlClient, stagingId: string): Promise<void> {
  await sql.query('DELETE FROM stored_blob_parts WHERE staging_id = $1', [stagingId]);
}
