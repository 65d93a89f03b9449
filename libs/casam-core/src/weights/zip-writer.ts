import { crc32, deflateRawSync } from 'node:zlib';

/**
 * A minimal ZIP writer: the counterpart of zip-reader for writing `.pth` files and for building test archives
 * (ZIP64 records, deflated entries, aligned data) without external tools.
 */
export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
  /** Default 'store' (what torch.save writes). */
  method?: 'store' | 'deflate';
}

export interface WriteZipOptions {
  /** Pad local headers so every entry's data starts at a multiple of this (torch uses 64). Default 1. */
  align?: number;
  /**
   * Write ZIP64 records: the end record gets saturated fields, a ZIP64 end record and locator, and every central
   * entry carries a ZIP64 extra field with its sizes and offset (what large archives need). Default false.
   */
  zip64?: boolean;
}

export function writeZip(entries: ZipWriteEntry[], opts: WriteZipOptions = {}): Uint8Array {
  const align = opts.align ?? 1;
  const zip64 = opts.zip64 ?? false;
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let pos = 0;
  const push = (b: Uint8Array): void => {
    chunks.push(b);
    pos += b.byteLength;
  };
  const central: Uint8Array[] = [];
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.method === 'deflate' ? 8 : 0;
    const payload = method === 8 ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = crc32(e.data) >>> 0;
    const offset = pos;
    let pad = (align - ((offset + 30 + name.byteLength) % align)) % align;
    if (pad > 0 && pad < 4) pad += align; // an extra field needs at least its 4-byte header
    const local = new Uint8Array(30 + name.byteLength + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, zip64 ? 45 : 20, true);
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, payload.byteLength, true);
    lv.setUint32(22, e.data.byteLength, true);
    lv.setUint16(26, name.byteLength, true);
    lv.setUint16(28, pad, true);
    local.set(name, 30);
    if (pad) {
      lv.setUint16(30 + name.byteLength, 0x4246, true); // 'FB' padding field, as torch writes
      lv.setUint16(32 + name.byteLength, pad - 4, true);
    }
    push(local);
    push(payload);

    const extra = zip64 ? 28 : 0;
    const c = new Uint8Array(46 + name.byteLength + extra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, zip64 ? 45 : 20, true);
    cv.setUint16(6, zip64 ? 45 : 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, zip64 ? 0xffffffff : payload.byteLength, true);
    cv.setUint32(24, zip64 ? 0xffffffff : e.data.byteLength, true);
    cv.setUint16(28, name.byteLength, true);
    cv.setUint16(30, extra, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    c.set(name, 46);
    if (zip64) {
      const x = 46 + name.byteLength;
      cv.setUint16(x, 0x0001, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(e.data.byteLength), true);
      cv.setBigUint64(x + 12, BigInt(payload.byteLength), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    central.push(c);
  }
  const cdOffset = pos;
  for (const c of central) push(c);
  const cdSize = pos - cdOffset;
  if (zip64) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(entries.length), true);
    zv.setBigUint64(32, BigInt(entries.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(pos), true);
    zv.setUint32(72, 1, true);
    push(z);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : entries.length, true);
  ev.setUint16(10, zip64 ? 0xffff : entries.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  push(end);
  const out = new Uint8Array(pos);
  let p = 0;
  for (const b of chunks) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}
