import { Injectable, Logger } from '@nestjs/common';
import { BlobNotFoundError } from '../blobs/blob.errors';
import { BlobInUseError, BlobRepository } from '../blobs/blob.repository';
import { BlobStore } from '../blobs/blob-store';
import { isForeignKeyViolation } from '../database/prisma-errors';
import { type UploadSessionWithChunks, UploadSessionRepository } from './upload-session.repository';

/** Tries to store a chunk whose shared blob other uploads keep releasing (see `storeChunk`). */
const CHUNK_STORE_ATTEMPTS = 3;

/**
 * The bytes of uploads: chunks and finished adapter files are content-addressed blobs (the store plus their
 * registry row). Identical chunks of two uploads share one blob, so a blob is deleted only when nothing
 * references it any more.
 */
@Injectable()
export class UploadBlobs {
  private readonly logger = new Logger('Uploads');

  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly blobs: BlobRepository,
    private readonly store: BlobStore,
  ) {}

  /**
   * Stores a chunk's bytes and records the chunk; false when a concurrent request recorded this index first.
   * When another upload sharing the blob finishes (or is aborted) between our store and our row, on this
   * replica or another, it may release the blob as unreferenced, and the row's foreign key refuses. Then the
   * bytes are stored again, at most {@link CHUNK_STORE_ATTEMPTS} times.
   */
  async storeChunk(id: string, index: number, bytes: Buffer, sha256: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      await this.storeFile(bytes, sha256);
      try {
        return await this.sessions.addChunk({ sessionId: id, index, size: bytes.length, sha256 });
      } catch (e) {
        if (!isForeignKeyViolation(e) || attempt >= CHUNK_STORE_ATTEMPTS) throw e;
        this.logger.warn(`upload ${id}: the blob of chunk ${index} was released meanwhile; storing it again`);
      }
    }
  }

  /** Stores bytes whose sha256 is known and registers the blob. */
  async storeFile(bytes: Buffer, sha256: string): Promise<void> {
    const put = await this.store.put(bytes, { expectedHash: sha256 });
    await this.blobs.record({
      hash: put.hash,
      size: put.size,
      store: this.store.driver,
      mediaType: 'application/octet-stream',
    });
  }

  /** The chunks in order, concatenated; chunks whose bytes are gone are forgotten so the site resends them. */
  async assemble(session: UploadSessionWithChunks): Promise<{ bytes: Buffer } | { missing: number[] }> {
    const parts: Buffer[] = [];
    const gone: number[] = [];
    for (const c of session.chunks) {
      try {
        parts.push(await this.store.get(c.sha256));
      } catch (e) {
        if (!(e instanceof BlobNotFoundError)) throw e;
        gone.push(c.index);
      }
    }
    if (gone.length) {
      this.logger.warn(
        `upload ${session.id}: bytes of chunk(s) ${gone.join(', ')} are gone; asking for them again`,
      );
      await this.sessions.dropChunks(session.id, gone);
      return { missing: gone };
    }
    return { bytes: Buffer.concat(parts) };
  }

  /** Unregisters and deletes blobs nothing references any more (a chunk shared with another upload stays). */
  async release(hashes: readonly string[]): Promise<void> {
    for (const hash of hashes) {
      try {
        if (await this.blobs.delete(hash)) await this.store.delete(hash);
      } catch (e) {
        if (!(e instanceof BlobInUseError)) throw e;
      }
    }
  }
}
