import { crc32, inflateRawSync } from 'node:zlib';

/**
 * A minimal read-only ZIP reader, enough for PyTorch checkpoints (`torch.save` writes an uncompressed zip with
 * data descriptors and a ZIP64 end record) and for ordinary deflated archives.
 *
 * Copy rules: stored entries are returned as `subarray` views of the input (no copy); deflated entries are
 * inflated into a new buffer (one allocation). Offsets and sizes are JS numbers, exact up to 2^53, so ZIP64
 * archives larger than 4 GB are addressed correctly.
 */

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  flags: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

export function isZip(buf: Uint8Array): boolean {
  return buf.byteLength >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
}

export interface ReadEntryOptions {
  /** Verify the CRC-32 of the entry against the central directory (default true). */
  verifyCrc?: boolean;
}

export class ZipArchive {
  readonly entries: ZipEntry[];
  private readonly byName: Map<string, ZipEntry>;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.entries = this.readCentralDirectory();
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The uncompressed bytes of an entry (a view into the archive for stored entries). */
  read(entryOrName: ZipEntry | string, opts: ReadEntryOptions = {}): Uint8Array {
    const e = typeof entryOrName === 'string' ? this.byName.get(entryOrName) : entryOrName;
    if (!e) throw new ZipError(`ZIP archive has no entry "${String(entryOrName)}"`);
    if (e.flags & 1) throw new ZipError(`ZIP entry "${e.name}" is encrypted, which is not supported`);
    const lho = e.localHeaderOffset;
    if (lho + 30 > this.buf.byteLength)
      throw new ZipError(
        `ZIP entry "${e.name}": local header at ${lho} lies past the end of the file (truncated?)`,
      );
    if (this.view.getUint32(lho, true) !== SIG_LOCAL)
      throw new ZipError(
        `ZIP entry "${e.name}": bad local header signature at offset ${lho} (corrupt archive)`,
      );
    // The local name/extra lengths may differ from the central ones (torch pads the local extra for alignment).
    const start = lho + 30 + this.view.getUint16(lho + 26, true) + this.view.getUint16(lho + 28, true);
    const end = start + e.compressedSize;
    if (end > this.buf.byteLength)
      throw new ZipError(
        `ZIP entry "${e.name}": data [${start}, ${end}) runs past the end of the ${this.buf.byteLength}-byte file (truncated?)`,
      );
    const raw = this.buf.subarray(start, end);
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize)
        throw new ZipError(
          `ZIP entry "${e.name}": stored entry with different compressed/uncompressed sizes`,
        );
      out = raw;
    } else if (e.method === 8) {
      try {
        const b = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize) });
        out = new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // a plain Uint8Array, not a Buffer
      } catch (err) {
        throw new ZipError(`ZIP entry "${e.name}": corrupt deflate data (${(err as Error).message})`);
      }
      if (out.byteLength !== e.uncompressedSize)
        throw new ZipError(
          `ZIP entry "${e.name}": inflated to ${out.byteLength} bytes, central directory says ${e.uncompressedSize}`,
        );
    } else {
      throw new ZipError(
        `ZIP entry "${e.name}": compression method ${e.method} is not supported (only stored/deflate)`,
      );
    }
    if (opts.verifyCrc ?? true) {
      const c = crc32(out) >>> 0;
      if (c !== e.crc32)
        throw new ZipError(
          `ZIP entry "${e.name}": CRC-32 mismatch (expected ${hex32(e.crc32)}, got ${hex32(c)}); the file is corrupt`,
        );
    }
    return out;
  }

  private readCentralDirectory(): ZipEntry[] {
    const { buf, view } = this;
    const eocd = findEocd(buf, view);
    if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0)
      throw new ZipError('multi-disk (split) ZIP archives are not supported');
    let count = view.getUint16(eocd + 10, true);
    let cdSize = view.getUint32(eocd + 12, true);
    let cdOffset = view.getUint32(eocd + 16, true);
    const loc = eocd - 20;
    if (loc >= 0 && view.getUint32(loc, true) === SIG_ZIP64_LOCATOR) {
      const z64 = u64(view, loc + 8, 'ZIP64 end-record offset');
      if (z64 + 56 > loc)
        throw new ZipError('ZIP64 end-of-central-directory locator points outside the file (corrupt)');
      if (view.getUint32(z64, true) !== SIG_ZIP64_EOCD)
        throw new ZipError(
          `ZIP64 end-of-central-directory record not found at offset ${z64} (corrupt archive)`,
        );
      count = u64(view, z64 + 32, 'ZIP64 entry count');
      cdSize = u64(view, z64 + 40, 'ZIP64 central directory size');
      cdOffset = u64(view, z64 + 48, 'ZIP64 central directory offset');
    } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      throw new ZipError(
        'ZIP end record needs ZIP64 values but no ZIP64 locator was found (corrupt archive)',
      );
    }
    if (cdOffset + cdSize > buf.byteLength)
      throw new ZipError(
        `ZIP central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the ${buf.byteLength}-byte file (truncated?)`,
      );
    const dec = new TextDecoder('utf-8');
    const entries: ZipEntry[] = [];
    let p = cdOffset;
    const cdEnd = cdOffset + cdSize;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdEnd || view.getUint32(p, true) !== SIG_CENTRAL)
        throw new ZipError(`ZIP central directory entry ${i} of ${count} is malformed (corrupt archive)`);
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      const crc = view.getUint32(p + 16, true);
      let compressedSize = view.getUint32(p + 20, true);
      let uncompressedSize = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      let localHeaderOffset = view.getUint32(p + 42, true);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cdEnd)
        throw new ZipError(`ZIP central directory entry ${i} runs past the directory (corrupt archive)`);
      const name = dec.decode(buf.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: only the fields whose 32-bit value is saturated are present, in this order.
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = view.getUint16(q, true);
        const len = view.getUint16(q + 2, true);
        const body = q + 4;
        if (body + len > extraEnd)
          throw new ZipError(`ZIP entry "${name}": malformed extra field (corrupt archive)`);
        if (id === 0x0001) {
          let r = body;
          const take = (what: string): number => {
            if (r + 8 > body + len)
              throw new ZipError(`ZIP entry "${name}": ZIP64 extra field lacks the ${what}`);
            const v = u64(view, r, what);
            r += 8;
            return v;
          };
          if (uncompressedSize === U32_MAX) uncompressedSize = take('uncompressed size');
          if (compressedSize === U32_MAX) compressedSize = take('compressed size');
          if (localHeaderOffset === U32_MAX) localHeaderOffset = take('local header offset');
        }
        q = body + len;
      }
      entries.push({ name, method, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset, flags });
      p = next;
    }
    return entries;
  }
}

/** Parses the central directory of a ZIP held in memory. Throws `ZipError` for truncated or corrupt archives. */
export function openZip(buf: Uint8Array): ZipArchive {
  return new ZipArchive(buf);
}

function findEocd(buf: Uint8Array, view: DataView): number {
  const last = buf.byteLength - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let p = last; p >= first; p--) {
    // Cheap first-byte test before the 32-bit read; the comment length must reach exactly the end of the file.
    if (
      buf[p] === 0x50 &&
      view.getUint32(p, true) === SIG_EOCD &&
      p + EOCD_SIZE + view.getUint16(p + 20, true) === buf.byteLength
    )
      return p;
  }
  throw new ZipError(
    'ZIP end-of-central-directory record not found: the file is truncated or not a ZIP archive',
  );
}

function u64(view: DataView, p: number, what: string): number {
  const v = view.getBigUint64(p, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ZipError(`ZIP ${what} ${v} is too large (corrupt archive)`);
  return Number(v);
}

function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}
