import type { Readable } from 'node:stream';
import { BUNDLE_JWS_PATH, BUNDLE_MANIFEST_PATH, ustarEnd, ustarHeader, ustarPadding } from '@casam/protocol';

/** An adapter file to put in the archive, opened only when its turn comes. */
export interface ArchiveAdapter {
  path: string;
  size: number;
  /** A stream of exactly `size` bytes (the blob store's verifying stream). */
  open(): Promise<Readable>;
}

export interface BundleArchiveParts {
  /** manifest.json: the exact bytes the JWS signs. */
  manifest: Uint8Array;
  /** manifest.jws (compact JWS, ASCII). */
  jws: string;
  adapters: readonly ArchiveAdapter[];
  /** mtime of every entry, seconds (the manifest's createdAt), so the bytes depend on nothing else. */
  mtime: number;
}

export class ArchiveSourceError extends Error {
  override name = 'ArchiveSourceError';
}

/**
 * The bundle archive as a stream of chunks: ustar headers and padding around the manifest, the JWS and each
 * adapter file streamed straight from the blob store, so building a bundle of 100 × 14 MB adapters never
 * holds more than one chunk of an adapter in memory. An adapter stream that ends early or runs long fails the
 * archive (and with it the blob-store put, which then stores nothing).
 */
export async function* bundleArchive(parts: BundleArchiveParts): AsyncGenerator<Uint8Array> {
  const jws = new TextEncoder().encode(parts.jws);
  for (const [name, data] of [
    [BUNDLE_MANIFEST_PATH, parts.manifest],
    [BUNDLE_JWS_PATH, jws],
  ] as const) {
    yield ustarHeader({ name, size: data.byteLength, mtime: parts.mtime });
    yield data;
    yield ustarPadding(data.byteLength);
  }
  for (const adapter of parts.adapters) {
    yield ustarHeader({ name: adapter.path, size: adapter.size, mtime: parts.mtime });
    let n = 0;
    const stream = await adapter.open();
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array>) {
        n += chunk.byteLength;
        if (n > adapter.size)
          throw new ArchiveSourceError(`${adapter.path}: more than the expected ${adapter.size} bytes`);
        yield chunk;
      }
    } finally {
      stream.destroy();
    }
    if (n !== adapter.size)
      throw new ArchiveSourceError(`${adapter.path}: ${n} bytes, expected ${adapter.size}`);
    yield ustarPadding(adapter.size);
  }
  yield ustarEnd();
}
