/**
 * A tiny POSIX ustar (tar) writer and reader for router bundles: regular files only, no compression, every
 * field fixed (mode 0644, uid/gid 0, no user names), so the same files and mtime always give the same bytes.
 * `tar tf` lists what it writes. The writer produces headers and padding separately so a caller can stream
 * large file bodies between them without copying. Depends on nothing.
 */

export const USTAR_BLOCK = 512;
/** Largest file a ustar size field (11 octal digits) can describe: 8 GiB − 1. */
export const USTAR_MAX_FILE_SIZE = 8 ** 11 - 1;
/** Longest name without the prefix field (which this writer never uses). */
export const USTAR_MAX_NAME = 100;

export class UstarError extends Error {
  override name = 'UstarError';
}

export interface UstarHeaderInput {
  /** ASCII path inside the archive, at most 100 bytes, no NUL. */
  name: string;
  size: number;
  /** Modification time, seconds since the epoch (default 0). */
  mtime?: number;
}

/** One regular file of an archive; its bytes are `archive[offset, offset + size)`. */
export interface UstarEntry {
  name: string;
  size: number;
  mtime: number;
  mode: number;
  /** Where the file's bytes start in the archive. */
  offset: number;
}

const FILE_MODE = 0o644;

/** The 512-byte header announcing a regular file of `size` bytes. */
export function ustarHeader(entry: UstarHeaderInput): Uint8Array {
  const { name, size } = entry;
  const mtime = entry.mtime ?? 0;
  if (name.length === 0 || name.length > USTAR_MAX_NAME || !/^[\x20-\x7e]+$/.test(name))
    throw new UstarError(`tar entry name must be 1..${USTAR_MAX_NAME} printable ASCII characters: "${name}"`);
  if (!Number.isSafeInteger(size) || size < 0 || size > USTAR_MAX_FILE_SIZE)
    throw new UstarError(`tar entry ${name}: size ${size} outside 0..${USTAR_MAX_FILE_SIZE}`);
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > USTAR_MAX_FILE_SIZE)
    throw new UstarError(`tar entry ${name}: mtime ${mtime} is not representable`);
  const h = new Uint8Array(USTAR_BLOCK);
  ascii(h, 0, name);
  ascii(h, 100, octal(FILE_MODE, 7));
  ascii(h, 108, octal(0, 7));
  ascii(h, 116, octal(0, 7));
  ascii(h, 124, octal(size, 11));
  ascii(h, 136, octal(mtime, 11));
  h[156] = 0x30; // typeflag '0': regular file
  ascii(h, 257, 'ustar\0');
  ascii(h, 263, '00');
  ascii(h, 329, octal(0, 7));
  ascii(h, 337, octal(0, 7));
  ascii(h, 148, `${octal(headerChecksum(h), 6)}\0 `);
  return h;
}

/** Zero bytes that pad a file of `size` bytes to the next block. */
export function ustarPadding(size: number): Uint8Array {
  return new Uint8Array((USTAR_BLOCK - (size % USTAR_BLOCK)) % USTAR_BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export function ustarEnd(): Uint8Array {
  return new Uint8Array(2 * USTAR_BLOCK);
}

/** Bytes an archive of files of these sizes takes, end marker included. */
export function ustarArchiveSize(fileSizes: readonly number[]): number {
  return (
    fileSizes.reduce((n, s) => n + USTAR_BLOCK + s + ((USTAR_BLOCK - (s % USTAR_BLOCK)) % USTAR_BLOCK), 0) +
    2 * USTAR_BLOCK
  );
}

/** A whole archive in memory (small archives and tests; large ones stream header, body, padding). */
export function writeUstar(files: readonly { name: string; data: Uint8Array; mtime?: number }[]): Uint8Array {
  const out = new Uint8Array(ustarArchiveSize(files.map((f) => f.data.byteLength)));
  let at = 0;
  for (const f of files) {
    out.set(ustarHeader({ name: f.name, size: f.data.byteLength, mtime: f.mtime }), at);
    at += USTAR_BLOCK;
    out.set(f.data, at);
    at += f.data.byteLength + ustarPadding(f.data.byteLength).byteLength;
  }
  return out;
}

/**
 * Lists the regular files of a ustar archive, strictly: every header's checksum and magic must be right, only
 * regular files are allowed, every file must lie inside the archive, and the archive must end with the zero
 * blocks and nothing after them. Names must be unique. Throws {@link UstarError} with what is wrong.
 */
export function readUstar(archive: Uint8Array): UstarEntry[] {
  const entries: UstarEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (;;) {
    if (at + USTAR_BLOCK > archive.byteLength)
      throw new UstarError(`archive truncated at byte ${at}: no end-of-archive marker`);
    const h = archive.subarray(at, at + USTAR_BLOCK);
    if (h.every((b) => b === 0)) {
      const rest = archive.subarray(at);
      if (rest.byteLength < 2 * USTAR_BLOCK)
        throw new UstarError('archive truncated inside its end-of-archive marker');
      if (!rest.every((b) => b === 0)) throw new UstarError(`unexpected bytes after the end of the archive`);
      return entries;
    }
    const name = cString(h, 0, 100);
    const where = `tar header at byte ${at}${name ? ` (${name})` : ''}`;
    if (readAscii(h, 257, 6) !== 'ustar\0' || readAscii(h, 263, 2) !== '00')
      throw new UstarError(`${where}: not a POSIX ustar header`);
    const stored = parseOctal(h, 148, 8, where, 'checksum');
    if (stored !== headerChecksum(h)) throw new UstarError(`${where}: header checksum does not match`);
    const type = h[156];
    if (type !== 0x30 && type !== 0) throw new UstarError(`${where}: only regular files are allowed`);
    if (cString(h, 345, 155) !== '') throw new UstarError(`${where}: the name prefix field is not supported`);
    if (!name) throw new UstarError(`${where}: empty file name`);
    if (seen.has(name)) throw new UstarError(`${where}: duplicate entry ${name}`);
    seen.add(name);
    const size = parseOctal(h, 124, 12, where, 'size');
    const offset = at + USTAR_BLOCK;
    if (offset + size > archive.byteLength)
      throw new UstarError(`${where}: file of ${size} bytes runs past the end of the archive`);
    entries.push({
      name,
      size,
      mtime: parseOctal(h, 136, 12, where, 'mtime'),
      mode: parseOctal(h, 100, 8, where, 'mode'),
      offset,
    });
    at = offset + size + ((USTAR_BLOCK - (size % USTAR_BLOCK)) % USTAR_BLOCK);
  }
}

function octal(n: number, digits: number): string {
  return n.toString(8).padStart(digits, '0');
}

function ascii(block: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) block[at + i] = text.charCodeAt(i);
}

function readAscii(block: Uint8Array, at: number, len: number): string {
  return String.fromCharCode(...block.subarray(at, at + len));
}

function cString(block: Uint8Array, at: number, len: number): string {
  const field = block.subarray(at, at + len);
  const end = field.indexOf(0);
  return String.fromCharCode(...(end < 0 ? field : field.subarray(0, end)));
}

/** Sum of the header's bytes with the checksum field counted as eight spaces. */
function headerChecksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < USTAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum;
}

function parseOctal(h: Uint8Array, at: number, len: number, where: string, field: string): number {
  const text = readAscii(h, at, len)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,12}$/.test(text)) throw new UstarError(`${where}: ${field} field is not an octal number`);
  return parseInt(text, 8);
}
