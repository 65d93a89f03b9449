/** Writes a file so that readers see either the old content or the new one, never a torn write. */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

let counter = 0;

/**
 * Writes `data` to a temporary file beside `path`, flushes it to disk, then renames it over `path`. `mode` sets
 * the permission bits from the first byte on (e.g. 0o600 for a private key: never readable by others, not even
 * briefly).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o666): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${++counter}`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
