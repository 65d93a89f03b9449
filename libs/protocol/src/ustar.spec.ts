import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  readUstar,
  USTAR_BLOCK,
  ustarArchiveSize,
  ustarEnd,
  ustarHeader,
  ustarPadding,
  UstarError,
  writeUstar,
} from './ustar';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-ustar-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const files = [
  { name: 'manifest.json', data: new TextEncoder().encode('{"a":1}'), mtime: 1_700_000_000 },
  { name: 'empty', data: new Uint8Array(0), mtime: 1_700_000_000 },
  { name: 'adapters/exact-block.bin', data: bytes(USTAR_BLOCK, 1), mtime: 1_700_000_000 },
  { name: 'adapters/odd.bin', data: bytes(1000, 2), mtime: 1_700_000_000 },
];

describe('ustar', () => {
  it('round-trips files, sizes and mtimes, with the size ustarArchiveSize predicts', () => {
    const archive = writeUstar(files);
    expect(archive.byteLength).toBe(ustarArchiveSize(files.map((f) => f.data.byteLength)));
    expect(archive.byteLength % USTAR_BLOCK).toBe(0);
    const entries = readUstar(archive);
    expect(entries.map((e) => [e.name, e.size, e.mtime, e.mode])).toEqual(
      files.map((f) => [f.name, f.data.byteLength, f.mtime, 0o644]),
    );
    for (const [i, e] of entries.entries())
      expect(
        Buffer.from(archive.subarray(e.offset, e.offset + e.size)).equals(Buffer.from(files[i].data)),
      ).toBe(true);
  });

  it('is deterministic and equals header + body + padding streamed piece by piece', () => {
    const pieces: Uint8Array[] = [];
    for (const f of files)
      pieces.push(
        ustarHeader({ name: f.name, size: f.data.byteLength, mtime: f.mtime }),
        f.data,
        ustarPadding(f.data.byteLength),
      );
    pieces.push(ustarEnd());
    const streamed = Buffer.concat(pieces);
    expect(streamed.equals(Buffer.from(writeUstar(files)))).toBe(true);
    expect(Buffer.from(writeUstar(files)).equals(Buffer.from(writeUstar(files)))).toBe(true);
  });

  it('writes archives that tar lists and extracts byte for byte', () => {
    const file = path.join(dir, 'w.tar');
    fs.writeFileSync(file, writeUstar(files));
    expect(execFileSync('tar', ['tf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual(
      files.map((f) => f.name),
    );
    const out = path.join(dir, 'x');
    fs.mkdirSync(out);
    execFileSync('tar', ['xf', file, '-C', out]);
    for (const f of files)
      expect(fs.readFileSync(path.join(out, f.name)).equals(Buffer.from(f.data))).toBe(true);
  });

  it('reads archives GNU tar writes in ustar format', () => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'a'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a', 'one.txt'), 'hello');
    fs.writeFileSync(path.join(src, 'two.bin'), bytes(3000, 5));
    const file = path.join(dir, 'gnu.tar');
    execFileSync('tar', ['--format=ustar', '-cf', file, '-C', src, 'a/one.txt', 'two.bin']);
    const archive = new Uint8Array(fs.readFileSync(file));
    const entries = readUstar(archive);
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ['a/one.txt', 5],
      ['two.bin', 3000],
    ]);
    expect(new TextDecoder().decode(archive.subarray(entries[0].offset, entries[0].offset + 5))).toBe(
      'hello',
    );
  });

  it('refuses names and sizes a plain ustar header cannot hold', () => {
    expect(() => ustarHeader({ name: 'x'.repeat(101), size: 1 })).toThrow(UstarError);
    expect(() => ustarHeader({ name: '', size: 1 })).toThrow(/1\.\.100 printable ASCII/);
    expect(() => ustarHeader({ name: 'caf\u00e9', size: 1 })).toThrow(/printable ASCII/);
    expect(() => ustarHeader({ name: 'a', size: -1 })).toThrow(/size -1/);
    expect(() => ustarHeader({ name: 'a', size: 8 ** 11 })).toThrow(/size/);
  });

  describe('reading is strict', () => {
    const good = writeUstar(files);
    const broken = (f: (a: Uint8Array) => Uint8Array | void): Uint8Array => {
      const copy = good.slice();
      return f(copy) ?? copy;
    };

    it('detects a corrupted header by its checksum', () => {
      expect(() => readUstar(broken((a) => void (a[10] ^= 1)))).toThrow(/checksum does not match/);
    });
    it('refuses a truncated archive and one without an end marker', () => {
      expect(() => readUstar(good.subarray(0, good.byteLength - USTAR_BLOCK))).toThrow(/end-of-archive/);
      expect(() => readUstar(good.subarray(0, 2 * USTAR_BLOCK))).toThrow(/runs past the end|truncated/);
      expect(() => readUstar(good.subarray(0, good.byteLength - 2 * USTAR_BLOCK))).toThrow(/truncated/);
    });
    it('refuses bytes after the end marker', () => {
      const longer = new Uint8Array(good.byteLength + USTAR_BLOCK);
      longer.set(good);
      longer[longer.byteLength - 1] = 1;
      expect(() => readUstar(longer)).toThrow(/after the end/);
    });
    it('refuses anything but regular files, and duplicates', () => {
      const link = ustarHeader({ name: 'evil', size: 0 });
      link[156] = 0x32; // symlink
      // fix the checksum so only the type is wrong
      let sum = 0;
      for (let i = 0; i < USTAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : link[i];
      link.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
      expect(() => readUstar(Buffer.concat([link, ustarEnd()]))).toThrow(/only regular files/);
      const dup = writeUstar([
        { name: 'a', data: new Uint8Array(1) },
        { name: 'a', data: new Uint8Array(2) },
      ]);
      expect(() => readUstar(dup)).toThrow(/duplicate entry a/);
    });
    it('refuses non-tar bytes', () => {
      expect(() => readUstar(new TextEncoder().encode('x'.repeat(2048)))).toThrow(/not a POSIX ustar header/);
      expect(() => readUstar(new Uint8Array(0))).toThrow(/truncated/);
    });
  });
});
