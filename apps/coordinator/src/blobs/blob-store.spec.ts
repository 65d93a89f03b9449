import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../database/database';
import { openTestDatabase, TEST_BACKENDS, testPostgresUrl } from '../../testing/test-database';
import {
  BlobCorruptedError,
  BlobHashMismatchError,
  BlobNotFoundError,
  BlobRangeError,
  BlobTooLargeError,
  InvalidBlobHashError,
} from './blob.errors';
import { type BlobStore, sha256Hex } from './blob-store';
import { FsBlobStore } from './fs-blob-store';
import { PostgresBlobStore } from './postgres-blob-store';

/** Deterministic pseudo-random bytes (sha256 in counter mode). */
function seededBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, off = 0; off < n; i++, off += 32)
    createHash('sha256')
      .update(`${seed}:${i}`)
      .digest()
      .copy(out, off, 0, Math.min(32, n - off));
  return out;
}

/** The same bytes as a stream of uneven chunks. */
function unevenChunks(data: Buffer): Readable {
  const sizes = [1, 7, 4096, 65535, 100_001];
  const parts: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length];
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  return Readable.from(parts);
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Harness {
  store: BlobStore;
  /** Flips a stored byte behind the store's back. */
  corrupt(hash: string): Promise<void>;
  /** Bytes left behind by failed or duplicate puts (temp files, unclaimed parts). */
  leftovers(): Promise<number>;
  close(): Promise<void>;
}

const PART = 64 * 1024; // small parts, so a few hundred KiB already spans many of them

function blobStoreContract(name: string, open: () => Promise<Harness>, skip = false): void {
  describe.skipIf(skip)(`BlobStore contract [${name}]`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await open();
    });
    afterAll(async () => {
      await h?.close();
    });

    it('names content by its sha256 and gives it back byte for byte', async () => {
      const data = seededBytes(300_000, 'a');
      const put = await h.store.put(data);
      expect(put).toEqual({ hash: sha256Hex(data), size: data.length, created: true });
      expect((await h.store.get(put.hash)).equals(data)).toBe(true);
      expect((await drain(await h.store.open(put.hash))).equals(data)).toBe(true);
      expect(await h.store.stat(put.hash)).toEqual({ hash: put.hash, size: data.length });
      expect(await h.store.has(put.hash)).toBe(true);
    });

    it('stores a stream of uneven chunks as the same blob, and serves byte ranges', async () => {
      const data = seededBytes(5 * PART + 123, 'b');
      const put = await h.store.put(unevenChunks(data));
      expect(put.hash).toBe(sha256Hex(data));
      for (const [start, end] of [
        [0, 0],
        [PART - 1, PART],
        [70_000, 200_000],
        [data.length - 5, data.length + 100],
      ]) {
        const got = await drain(await h.store.open(put.hash, { start, end }));
        expect(got.equals(data.subarray(start, Math.min(end, data.length - 1) + 1))).toBe(true);
      }
      await expect(
        h.store.open(put.hash, { start: data.length, end: data.length + 1 }),
      ).rejects.toBeInstanceOf(BlobRangeError);
    });

    it('stores the empty blob', async () => {
      const put = await h.store.put(Buffer.alloc(0));
      expect(put.hash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect((await h.store.get(put.hash)).length).toBe(0);
      expect((await drain(await h.store.open(put.hash))).length).toBe(0);
    });

    it('is idempotent, also for concurrent puts of the same content', async () => {
      const data = seededBytes(3 * PART + 1, 'c');
      const results = await Promise.all(Array.from({ length: 8 }, () => h.store.put(unevenChunks(data))));
      expect(new Set(results.map((r) => r.hash)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect((await h.store.put(data)).created).toBe(false);
      expect((await h.store.get(results[0].hash)).equals(data)).toBe(true);
      expect(await h.leftovers()).toBe(0);
    });

    it('refuses content that does not match the declared hash, storing nothing', async () => {
      const data = seededBytes(2 * PART, 'd');
      const wrong = sha256Hex(Buffer.from('something else'));
      await expect(h.store.put(unevenChunks(data), { expectedHash: wrong })).rejects.toBeInstanceOf(
        BlobHashMismatchError,
      );
      expect(await h.store.has(sha256Hex(data))).toBe(false);
      expect(await h.leftovers()).toBe(0);
      const ok = await h.store.put(data, { expectedHash: sha256Hex(data) });
      expect(ok.created).toBe(true);
    });

    it('refuses content over the size limit, storing nothing', async () => {
      const data = seededBytes(3 * PART, 'e');
      await expect(h.store.put(unevenChunks(data), { maxBytes: 2 * PART })).rejects.toBeInstanceOf(
        BlobTooLargeError,
      );
      expect(await h.store.has(sha256Hex(data))).toBe(false);
      expect(await h.leftovers()).toBe(0);
    });

    it('fails a failing source without leaving anything behind', async () => {
      async function* broken(): AsyncIterable<Uint8Array> {
        yield seededBytes(PART + 10, 'f');
        throw new Error('connection reset');
      }
      await expect(h.store.put(broken())).rejects.toThrow('connection reset');
      expect(await h.leftovers()).toBe(0);
    });

    it('reports missing blobs and malformed hashes as such', async () => {
      const missing = sha256Hex(Buffer.from('never stored'));
      await expect(h.store.get(missing)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(h.store.open(missing)).rejects.toBeInstanceOf(BlobNotFoundError);
      expect(await h.store.stat(missing)).toBeNull();
      expect(await h.store.has(missing)).toBe(false);
      expect(await h.store.delete(missing)).toBe(false);
      for (const bad of ['', 'ABC', missing.toUpperCase(), `../${missing.slice(3)}`])
        await expect(h.store.get(bad)).rejects.toBeInstanceOf(InvalidBlobHashError);
    });

    it('detects corrupted bytes on read and never serves them as valid', async () => {
      const data = seededBytes(2 * PART + 7, 'g');
      const { hash } = await h.store.put(data);
      await h.corrupt(hash);
      await expect(h.store.get(hash)).rejects.toBeInstanceOf(BlobCorruptedError);
      await expect(drain(await h.store.open(hash))).rejects.toBeInstanceOf(BlobCorruptedError);
      expect(await h.store.delete(hash)).toBe(true);
    });

    it('lists and deletes', async () => {
      const a = await h.store.put(Buffer.from('list a'));
      const b = await h.store.put(Buffer.from('list b'));
      const all: string[] = [];
      for await (const x of h.store.list()) all.push(x);
      expect(all).toEqual(expect.arrayContaining([a.hash, b.hash]));
      expect(await h.store.delete(a.hash)).toBe(true);
      expect(await h.store.has(a.hash)).toBe(false);
      expect(await h.store.has(b.hash)).toBe(true);
    });

    it('answers a readiness ping', async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
    });
  });
}

blobStoreContract('file system', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-blobs-'));
  const store = await FsBlobStore.open(dir);
  return {
    store,
    corrupt: async (hash) => {
      const p = store.pathOf(hash);
      fs.chmodSync(p, 0o644);
      const bytes = fs.readFileSync(p);
      bytes[bytes.length >> 1] ^= 0xff;
      fs.writeFileSync(p, bytes);
    },
    leftovers: async () => fs.readdirSync(path.join(dir, 'tmp')).length,
    close: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

for (const backend of TEST_BACKENDS)
  blobStoreContract(
    `Postgres driver on ${backend === 'pglite' ? 'embedded PGlite' : 'Postgres'}`,
    async () => {
      const db: Database = await openTestDatabase(backend);
      const store = new PostgresBlobStore(db, PART);
      return {
        store,
        corrupt: async (hash) => {
          await db.sql.query(
            `UPDATE stored_blob_parts SET data = set_byte(data, 5, (get_byte(data, 5) + 1) % 256)
              WHERE staging_id = (SELECT staging_id FROM stored_blobs WHERE hash = $1) AND index = 1`,
            [hash],
          );
        },
        leftovers: async () =>
          (
            await db.sql.query(
              `SELECT 1 FROM stored_blob_parts p
                WHERE NOT EXISTS (SELECT 1 FROM stored_blobs b WHERE b.staging_id = p.staging_id)`,
            )
          ).length,
        close: () => db.close(),
      };
    },
    backend === 'postgres' && !testPostgresUrl(),
  );

describe('PostgresBlobStore.sweepStaging', () => {
  it('removes parts no blob claims, and only those', async () => {
    const db = await openTestDatabase('pglite');
    try {
      const store = new PostgresBlobStore(db, PART);
      const kept = await store.put(seededBytes(PART * 2, 'kept'));
      await db.sql.query(
        `INSERT INTO stored_blob_parts (staging_id, index, data) VALUES (gen_random_uuid(), 0, '\\x00')`,
      );
      expect(await store.sweepStaging(new Date(Date.now() + 60_000))).toBe(1);
      expect((await store.get(kept.hash)).length).toBe(PART * 2);
    } finally {
      await db.close();
    }
  });
});

describe('FsBlobStore layout', () => {
  it('shards by hash prefix, keeps files read-only, and sweeps stale temp files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-blobs-'));
    try {
      const store = await FsBlobStore.open(dir);
      const { hash } = await store.put(Buffer.from('layout'));
      const p = path.join(dir, 'objects', hash.slice(0, 2), hash.slice(2, 4), hash);
      expect(fs.existsSync(p)).toBe(true);
      expect(fs.statSync(p).mode & 0o222).toBe(0);
      fs.writeFileSync(path.join(dir, 'tmp', 'stale'), 'x');
      expect(await store.sweepTemp(60_000, Date.now())).toBe(0);
      expect(await store.sweepTemp(60_000, Date.now() + 120_000)).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails its readiness ping when its directory is gone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-blobs-'));
    const store = await FsBlobStore.open(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    await expect(store.ping()).rejects.toThrow(/ENOENT/);
  });
});
