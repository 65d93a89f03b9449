import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobNotFoundError } from './blob.errors';
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

/**
 * Blobs as files: `<root>/objects/ab/cd/<sha256>`, two levels of 256 shards so no directory grows huge.
 * A put writes `<root>/tmp/<uuid>`, fsyncs it, hard-links it into place (atomic on one file system, and
 * refused if the name exists) and fsyncs the shard directory, so a crash leaves either the whole blob or a
 * stray temp file (`sweepTemp`), never a half-written blob under its hash. Stored files are read-only.
 */
export class FsBlobStore extends BlobStore {
  readonly driver = 'fs' as const;
  private readonly objects: string;
  private readonly tmp: string;

  private constructor(readonly root: string) {
    super();
    this.objects = path.join(root, 'objects');
    this.tmp = path.join(root, 'tmp');
  }

  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(path.resolve(root));
    // the blobs are the coordinator's alone, like the rest of its data directory
    await fs.promises.mkdir(store.objects, { recursive: true, mode: 0o700 });
    await fs.promises.mkdir(store.tmp, { recursive: true, mode: 0o700 });
    return store;
  }

  pathOf(hash: string): string {
    assertBlobHash(hash);
    return path.join(this.objects, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async put(source: BlobSource, options?: PutOptions): Promise<PutResult> {
    const meter = new PutMeter(options);
    const tmpPath = path.join(this.tmp, randomUUID());
    const file = await fs.promises.open(tmpPath, 'wx', 0o600);
    let hash: string;
    try {
      try {
        for await (const chunk of chunksOf(source)) {
          meter.add(chunk);
          await file.write(chunk);
        }
        await file.sync();
      } finally {
        await file.close();
      }
      hash = meter.finish();
      const final = this.pathOf(hash);
      await fs.promises.chmod(tmpPath, 0o400);
      await fs.promises.mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
      // link() publishes the file atomically and only if the name is free: of several puts of the same
      // content exactly one creates the blob, the others find it there.
      let created = true;
      try {
        await fs.promises.link(tmpPath, final);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        created = false;
      }
      await fs.promises.rm(tmpPath, { force: true });
      if (created) await fsyncDir(path.dirname(final));
      return { hash, size: meter.size, created };
    } catch (e) {
      await fs.promises.rm(tmpPath, { force: true });
      throw e;
    }
  }

  async get(hash: string): Promise<Buffer> {
    try {
      return verifyBuffer(hash, await fs.promises.readFile(this.pathOf(hash)));
    } catch (e) {
      if (isMissing(e)) throw new BlobNotFoundError(hash);
      throw e;
    }
  }

  async open(hash: string, range?: ByteRange): Promise<Readable> {
    const stat = await this.stat(hash);
    if (!stat) throw new BlobNotFoundError(hash);
    if (range) {
      const r = checkRange(range, stat.size);
      return fs.createReadStream(this.pathOf(hash), { start: r.start, end: r.end });
    }
    return fs.createReadStream(this.pathOf(hash)).pipe(verifyingStream(hash, stat.size));
  }

  async stat(hash: string): Promise<BlobStat | null> {
    try {
      const s = await fs.promises.stat(this.pathOf(hash));
      return { hash, size: s.size };
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async delete(hash: string): Promise<boolean> {
    try {
      await fs.promises.unlink(this.pathOf(hash));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  async *list(): AsyncIterable<string> {
    for (const a of await readdirOrEmpty(this.objects))
      for (const b of await readdirOrEmpty(path.join(this.objects, a)))
        for (const name of await readdirOrEmpty(path.join(this.objects, a, b)))
          if (/^[0-9a-f]{64}$/.test(name)) yield name;
  }

  /** Writes, syncs and removes a probe file: proves the store is there and writable. */
  async ping(): Promise<void> {
    const probe = path.join(this.tmp, `ping-${randomUUID()}`);
    await fs.promises.writeFile(probe, 'ok', { mode: 0o600 });
    await fs.promises.rm(probe);
    await fs.promises.access(this.objects, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
  }

  /** Removes temp files of interrupted puts older than `olderThanMs`; returns how many. */
  async sweepTemp(olderThanMs: number, now: number = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdirOrEmpty(this.tmp)) {
      const p = path.join(this.tmp, name);
      const s = await fs.promises.stat(p).catch(() => null);
      if (s && now - s.mtimeMs > olderThanMs) {
        await fs.promises.rm(p, { force: true });
        removed++;
      }
    }
    return removed;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}
