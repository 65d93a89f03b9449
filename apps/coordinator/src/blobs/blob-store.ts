import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import {
  BlobCorruptedError,
  BlobHashMismatchError,
  BlobRangeError,
  BlobTooLargeError,
  InvalidBlobHashError,
} from './blob.errors';

export type BlobStoreDriver = 'fs' | 'postgres';

/** What can be stored: bytes in memory, a Node stream, or any async iterable of byte chunks. */
export type BlobSource = Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface BlobStat {
  hash: string;
  size: number;
}

export interface PutResult extends BlobStat {
  /** False when the store already held this content (puts are idempotent). */
  created: boolean;
}

export interface PutOptions {
  /** The sha256 the caller expects; a mismatch stores nothing and throws BlobHashMismatchError. */
  expectedHash?: string;
  /** Refuse (and store nothing) past this many bytes: BlobTooLargeError. */
  maxBytes?: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Content-addressed storage for the coordinator's bytes (adapter weights, bundles, upload chunks): a blob's
 * name is the sha256 of its content, so a put is idempotent and a read can be verified. Two drivers share one
 * contract suite: the file system (single coordinator) and Postgres (several replicas, no shared disk).
 * Which blobs are still referenced is the registry's business (BlobRepository), not the store's.
 */
export abstract class BlobStore {
  abstract readonly driver: BlobStoreDriver;

  /** Stores the content and returns its sha256. Atomic: a failed or refused put leaves nothing behind. */
  abstract put(source: BlobSource, options?: PutOptions): Promise<PutResult>;

  /** The whole content, verified against its hash (BlobCorruptedError otherwise). */
  abstract get(hash: string): Promise<Buffer>;

  /**
   * Streams the content. A whole-blob stream is verified as it goes and errors with BlobCorruptedError at the
   * end if the bytes do not match; a range cannot be verified on its own. BlobNotFoundError before any byte.
   */
  abstract open(hash: string, range?: ByteRange): Promise<Readable>;

  /** Size of a stored blob, or null when absent. */
  abstract stat(hash: string): Promise<BlobStat | null>;

  async has(hash: string): Promise<boolean> {
    return (await this.stat(hash)) !== null;
  }

  /** Removes a blob; false when it was not there. The caller checks it is unreferenced. */
  abstract delete(hash: string): Promise<boolean>;

  /** Every stored hash, in no promised order. */
  abstract list(): AsyncIterable<string>;

  /** Throws unless the store can be read and written now (readiness). */
  abstract ping(): Promise<void>;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function assertBlobHash(hash: string): void {
  if (!SHA256.test(hash)) throw new InvalidBlobHashError(hash);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function* chunksOf(source: BlobSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>)
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}

/** Hashes and counts bytes as they pass, enforcing `maxBytes`. */
export class PutMeter {
  private readonly hash: Hash = createHash('sha256');
  size = 0;

  constructor(private readonly options: PutOptions = {}) {
    if (options.expectedHash !== undefined) assertBlobHash(options.expectedHash);
  }

  add(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    if (this.options.maxBytes !== undefined && this.size > this.options.maxBytes)
      throw new BlobTooLargeError(this.options.maxBytes);
    this.hash.update(chunk);
  }

  /** The content's hash, after checking it against the expected one. */
  finish(): string {
    const actual = this.hash.digest('hex');
    const expected = this.options.expectedHash;
    if (expected !== undefined && expected !== actual) throw new BlobHashMismatchError(expected, actual);
    return actual;
  }
}

/** Checks a range against a blob size; returns it clamped to the last byte (as HTTP does). */
export function checkRange(range: ByteRange, size: number): ByteRange {
  if (
    !Number.isInteger(range.start) ||
    !Number.isInteger(range.end) ||
    range.start < 0 ||
    range.start > range.end ||
    range.start >= size
  )
    throw new BlobRangeError(size);
  return { start: range.start, end: Math.min(range.end, size - 1) };
}

/** Passes bytes through and fails the stream at its end when they do not hash to `hash`. */
export function verifyingStream(hash: string, expectedSize: number): Transform {
  const h = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      const actual = h.digest('hex');
      if (size !== expectedSize)
        done(new BlobCorruptedError(hash, `${size} bytes, expected ${expectedSize}`));
      else if (actual !== hash) done(new BlobCorruptedError(hash, `content hashes to ${actual}`));
      else done();
    },
  });
}

export function verifyBuffer(hash: string, data: Buffer): Buffer {
  const actual = sha256Hex(data);
  if (actual !== hash) throw new BlobCorruptedError(hash, `content hashes to ${actual}`);
  return data;
}
