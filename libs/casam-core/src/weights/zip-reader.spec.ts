import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../testing/fixtures';
import { ZipError, isZip, openZip } from './zip-reader';
import { writeZip } from './zip-writer';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string): Uint8Array => enc.encode(s);

function sampleEntries() {
  const big = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
  return [
    { name: 'a/data.pkl', data: text('hello pickle') },
    { name: 'a/data/0', data: big, method: 'deflate' as const },
    { name: 'a/empty', data: new Uint8Array(0) },
    { name: 'a/ünïcode', data: text('x') },
  ];
}

describe('zip-reader', () => {
  it('reads the torch-written sam-mini.pth central directory (ZIP64 end record, data descriptors)', () => {
    const buf = new Uint8Array(readFileSync(fixturePath('sam-mini/sam-mini.pth')));
    expect(isZip(buf)).toBe(true);
    const zip = openZip(buf);
    expect(zip.entries.length).toBe(204); // data.pkl + 202 storages + version
    expect(zip.get('sam-mini/data.pkl')).toBeDefined();
    expect(dec.decode(zip.read('sam-mini/version'))).toBe('3\n');
    const pkl = zip.read('sam-mini/data.pkl');
    expect(pkl[0]).toBe(0x80); // pickle PROTO
    // Stored entries are zero-copy views of the input.
    const s0 = zip.read('sam-mini/data/0');
    expect(s0.buffer).toBe(buf.buffer);
    expect(s0.byteLength).toBe(98304);
  });

  it('round-trips stored and deflated entries, with and without alignment', () => {
    for (const align of [1, 64]) {
      const zip = openZip(writeZip(sampleEntries(), { align }));
      for (const e of sampleEntries()) expect(zip.read(e.name)).toEqual(e.data);
      expect(zip.get('a/data/0')!.method).toBe(8);
      if (align === 64) {
        const buf = writeZip(sampleEntries(), { align });
        const data = openZip(buf).read('a/data.pkl');
        expect(data.byteOffset % 64).toBe(0);
      }
    }
  });

  it('parses a hand-built ZIP64 archive (saturated end record, ZIP64 extra fields)', () => {
    const buf = writeZip(sampleEntries(), { zip64: true, align: 64 });
    const view = new DataView(buf.buffer);
    const eocd = buf.byteLength - 22;
    expect(view.getUint32(eocd, true)).toBe(0x06054b50);
    expect(view.getUint16(eocd + 10, true)).toBe(0xffff);
    expect(view.getUint32(eocd + 16, true)).toBe(0xffffffff);
    const zip = openZip(buf);
    expect(zip.entries.map((e) => e.name)).toEqual(sampleEntries().map((e) => e.name));
    for (const e of sampleEntries()) expect(zip.read(e.name)).toEqual(e.data);
    expect(zip.get('a/data/0')!.uncompressedSize).toBe(5000);
  });

  it('rejects a ZIP64 end record whose locator is damaged', () => {
    const buf = writeZip(sampleEntries(), { zip64: true });
    const loc = buf.byteLength - 22 - 20;
    new DataView(buf.buffer).setBigUint64(loc + 8, 3n, true); // points at a local header, not the ZIP64 record
    expect(() => openZip(buf)).toThrow(/ZIP64 end-of-central-directory record not found/);
  });

  it('reports truncated archives clearly', () => {
    const buf = writeZip(sampleEntries());
    for (const cut of [10, buf.byteLength - 30, buf.byteLength - 1]) {
      expect(() => openZip(buf.subarray(0, cut))).toThrow(ZipError);
      expect(() => openZip(buf.subarray(0, cut))).toThrow(/truncated/);
    }
    expect(() => openZip(new Uint8Array(0))).toThrow(/not a ZIP archive/);
  });

  it('detects flipped bytes by CRC-32 and corrupt deflate streams', () => {
    const buf = writeZip(sampleEntries());
    const zip = openZip(buf);
    const s = zip.read('a/data.pkl');
    const flipped = buf.slice();
    flipped[s.byteOffset + 3] ^= 0x20;
    expect(() => openZip(flipped).read('a/data.pkl')).toThrow(/CRC-32 mismatch.*corrupt/);
    expect(openZip(flipped).read('a/data.pkl', { verifyCrc: false })[3]).toBe(s[3] ^ 0x20);

    const e = zip.get('a/data/0')!;
    const lho = e.localHeaderOffset;
    const v = new DataView(buf.buffer);
    const start = lho + 30 + v.getUint16(lho + 26, true) + v.getUint16(lho + 28, true);
    const bad = buf.slice();
    bad.fill(0xff, start, start + 8);
    expect(() => openZip(bad).read('a/data/0')).toThrow(/a\/data\/0.*(corrupt deflate|CRC-32|inflated)/);
  });

  it('rejects bad local headers, unknown methods and missing entries', () => {
    const buf = writeZip(sampleEntries());
    const zip = openZip(buf);
    const bad = buf.slice();
    bad[zip.get('a/empty')!.localHeaderOffset] = 0;
    expect(() => openZip(bad).read('a/empty')).toThrow(/bad local header signature/);
    expect(() => zip.read('nope')).toThrow(/no entry "nope"/);
    const m = buf.slice();
    const cd = openZip(m).entries; // patch the central method of entry 0 to 12 (bzip2)
    const cdStart = new DataView(m.buffer).getUint32(m.byteLength - 22 + 16, true);
    new DataView(m.buffer).setUint16(cdStart + 10, 12, true);
    expect(cd.length).toBe(4);
    expect(() => openZip(m).read('a/data.pkl')).toThrow(/compression method 12/);
  });
});
