import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HostTensor, float32Tensor, numel } from '../tensor/host-tensor';
import { fixturePath, loadFixture } from '../testing/fixtures';
import { PickleWriter } from './pickle-writer';
import { LegacyTorchFormatError, PthError, readPth } from './pth-reader';
import { PthStorageSpec, writePth, writePthRaw } from './pth-writer';
import { UnsafePickleError } from './unpickler';
import { openZip } from './zip-reader';
import { writeZip } from './zip-writer';

const bytesOf = (t: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array =>
  new Uint8Array(t.buffer, t.byteOffset, t.byteLength);

function f32Storage(n: number): PthStorageSpec {
  return { dtype: 'float32', bytes: bytesOf(Float32Array.from({ length: n }, (_, i) => i)) };
}

describe('readPth', () => {
  it('loads sam-mini.pth bit-identical to sam-mini.safetensors (202 tensors, 787,816 values)', () => {
    const pth = readPth(new Uint8Array(readFileSync(fixturePath('sam-mini/sam-mini.pth'))));
    const st = loadFixture('sam-mini/sam-mini.safetensors');
    expect(pth.size).toBe(202);
    expect([...pth.keys()]).toEqual([...st.keys()]); // state_dict order kept
    let values = 0;
    for (const [name, t] of pth) {
      const ref = st.get(name)!;
      expect(t.dtype, name).toBe('float32');
      expect(t.shape, name).toEqual(ref.shape);
      expect(Buffer.compare(bytesOf(t.data), bytesOf(ref.data)), name).toBe(0);
      values += t.data.length;
    }
    expect(values).toBe(787816);
  });

  it('does not pin the input: every tensor owns a fresh aligned buffer', () => {
    const buf = new Uint8Array(readFileSync(fixturePath('sam-mini/sam-mini.pth')));
    const sd = readPth(buf);
    for (const t of sd.values()) {
      expect(t.data.buffer).not.toBe(buf.buffer);
      expect(t.data.byteOffset).toBe(0);
    }
  });

  it('rebuilds offset and non-contiguous views (transpose, gaps, shared storage, 0-d, empty)', () => {
    const storages = new Map([
      ['s', f32Storage(24)],
      ['e', f32Storage(0)],
    ]);
    const buf = writePthRaw(storages, [
      // a 3x4 matrix at offset 2, read transposed: size [4,3], stride [1,4]
      ['transposed', { storageKey: 's', storageOffset: 2, size: [4, 3], stride: [1, 4] }],
      // contiguous slice at an offset
      ['slice', { storageKey: 's', storageOffset: 5, size: [2, 3], stride: [3, 1] }],
      // every other element of every third row: gaps in both dims
      ['gapped', { storageKey: 's', storageOffset: 1, size: [3, 2], stride: [8, 2] }],
      // size-1 dim with an arbitrary stride still counts as contiguous
      ['unit', { storageKey: 's', storageOffset: 3, size: [1, 4], stride: [99, 1] }],
      // broadcast (stride 0)
      ['broadcast', { storageKey: 's', storageOffset: 7, size: [2, 3], stride: [0, 1] }],
      ['scalar', { storageKey: 's', storageOffset: 23, size: [], stride: [] }],
      ['empty', { storageKey: 'e', storageOffset: 0, size: [0, 5], stride: [5, 1] }],
      // 3-d with a permuted layout: logical [2,3,2] over a [3,2,2] block
      ['permuted', { storageKey: 's', storageOffset: 0, size: [2, 3, 2], stride: [2, 4, 1] }],
    ]);
    const sd = readPth(buf);
    const vals = (n: string): number[] => Array.from(sd.get(n)!.data as Float32Array);
    expect(sd.get('transposed')!.shape).toEqual([4, 3]);
    expect(vals('transposed')).toEqual([2, 6, 10, 3, 7, 11, 4, 8, 12, 5, 9, 13]);
    expect(vals('slice')).toEqual([5, 6, 7, 8, 9, 10]);
    expect(vals('gapped')).toEqual([1, 3, 9, 11, 17, 19]);
    expect(vals('unit')).toEqual([3, 4, 5, 6]);
    expect(vals('broadcast')).toEqual([7, 8, 9, 7, 8, 9]);
    expect(sd.get('scalar')!.shape).toEqual([]);
    expect(vals('scalar')).toEqual([23]);
    expect(sd.get('empty')!.shape).toEqual([0, 5]);
    expect(vals('empty')).toEqual([]);
    const ref: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) ref.push(i * 2 + j * 4 + k);
    expect(vals('permuted')).toEqual(ref);
    // Two views of one storage are independent copies.
    (sd.get('slice')!.data as Float32Array)[0] = -1;
    expect(vals('transposed')[3]).toBe(3);
  });

  it('keeps dtypes float16/bfloat16/float64/int64/int32/uint8/bool, including strided int64', () => {
    const tensors: [string, HostTensor][] = [
      ['h', { dtype: 'float16', shape: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x7bff) }],
      ['bf', { dtype: 'bfloat16', shape: [2], data: Uint16Array.of(0x3f80, 0xbf00) }],
      ['d', { dtype: 'float64', shape: [2], data: Float64Array.of(Math.PI, -1e300) }],
      ['l', { dtype: 'int64', shape: [2], data: BigInt64Array.of(-3n, 2n ** 60n) }],
      ['i', { dtype: 'int32', shape: [1], data: Int32Array.of(-7) }],
      ['u', { dtype: 'uint8', shape: [2], data: Uint8Array.of(1, 255) }],
      ['b', { dtype: 'bool', shape: [2], data: Uint8Array.of(1, 0) }],
    ];
    const sd = readPth(writePth(tensors));
    for (const [name, t] of tensors) {
      const got = sd.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data).toEqual(t.data);
    }
    const longs = { dtype: 'int64' as const, bytes: bytesOf(BigInt64Array.of(0n, 1n, 2n, 3n, 4n, 5n)) };
    const sd2 = readPth(
      writePthRaw(new Map([['k', longs]]), [
        ['t', { storageKey: 'k', storageOffset: 0, size: [3, 2], stride: [1, 3] }],
      ]),
    );
    expect(Array.from(sd2.get('t')!.data as BigInt64Array)).toEqual([0n, 3n, 1n, 4n, 2n, 5n]);
  });

  it('accepts a state dict wrapped under "model" or "state_dict"', () => {
    const t = float32Tensor([2], Float32Array.of(1, 2));
    for (const key of ['model', 'state_dict']) {
      const sd = readPth(writePth([['w', t]], { wrapUnder: key }));
      expect([...sd.keys()]).toEqual(['w']);
      expect(Array.from(sd.get('w')!.data as Float32Array)).toEqual([1, 2]);
    }
    expect(() => readPth(writePth([['w', t]], { wrapUnder: 'weights' }))).toThrow(
      /neither a state dict.*keys: weights, epoch/,
    );
  });

  it('honours the byteorder record of big-endian saves', () => {
    const be = new Uint8Array([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]); // 1.0, -2.0 big-endian
    const p = new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce();
    p.str('w').global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().binpersid();
    p.int(0).mark().int(2).tuple().mark().int(1).tuple().bool(false);
    p.global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitem().stop();
    const buf = writeZip([
      { name: 'x/data.pkl', data: p.bytes() },
      { name: 'x/byteorder', data: new TextEncoder().encode('big') },
      { name: 'x/data/0', data: be },
    ]);
    expect(Array.from(readPth(buf).get('w')!.data as Float32Array)).toEqual([1, -2]);
  });

  it('refuses legacy, foreign and inconsistent archives with clear errors', () => {
    const legacy = Uint8Array.of(
      0x80,
      0x02,
      0x8a,
      0x0a,
      0x6c,
      0xfc,
      0x9c,
      0x46,
      0xf9,
      0x20,
      0x6a,
      0xa8,
      0x50,
      0x19,
      0x2e,
    );
    expect(() => readPth(legacy)).toThrow(LegacyTorchFormatError);
    expect(() => readPth(legacy)).toThrow(/re-save it with a modern torch.*safetensors/);
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode('ustar'), 257);
    expect(() => readPth(tar)).toThrow(LegacyTorchFormatError);
    expect(() => readPth(new TextEncoder().encode('hello world'))).toThrow(/no ZIP signature/);
    expect(() => readPth(writeZip([{ name: 'a.txt', data: new Uint8Array(3) }]))).toThrow(
      /no <archive>\/data\.pkl/,
    );

    const storages = new Map([['s', f32Storage(4)]]);
    const outOfRange = writePthRaw(storages, [
      ['t', { storageKey: 's', storageOffset: 2, size: [3], stride: [1] }],
    ]);
    expect(() => readPth(outOfRange)).toThrow(/tensor t: view .* reaches element 4 of a 4-element storage/);

    const bomb = writePthRaw(storages, [
      ['t', { storageKey: 's', storageOffset: 0, size: [2 ** 31, 4], stride: [0, 1] }],
    ]);
    expect(() => readPth(bomb)).toThrow(/tensor t: size \[2147483648,4\] needs .* over the .*-byte limit/);

    const good = writePthRaw(storages, [
      ['t', { storageKey: 's', storageOffset: 0, size: [4], stride: [1] }],
    ]);
    const zipEntries = [{ name: 'archive/data.pkl', data: extractPkl(good) }];
    expect(() => readPth(writeZip(zipEntries))).toThrow(/storage entry archive\/data\/s is missing/);
    const short = writeZip([...zipEntries, { name: 'archive/data/s', data: new Uint8Array(8) }]);
    expect(() => readPth(short)).toThrow(/has 8 bytes, its 4 elements need 16/);
  });

  it('refuses a checkpoint whose pickle references a disallowed global', () => {
    const p = new PickleWriter().proto(2).global('os', 'system').str('echo pwned').raw(0x85).reduce().stop();
    const buf = writeZip([{ name: 'archive/data.pkl', data: p.bytes() }]);
    expect(() => readPth(buf)).toThrow(UnsafePickleError);
    expect(() => readPth(buf)).toThrow(/"os\.system"/);
  });

  it('rejects state dicts holding non-tensors', () => {
    const p = new PickleWriter().proto(2).emptyDict().str('w').int(3).setitem().stop();
    expect(() => readPth(writeZip([{ name: 'archive/data.pkl', data: p.bytes() }]))).toThrow(PthError);
  });

  it('writePth output round-trips the sam-mini weights', () => {
    const st = loadFixture('sam-mini/sam-mini.safetensors');
    const sd = readPth(writePth(st, { archiveName: 'sam-mini' }));
    expect(sd.size).toBe(st.size);
    let n = 0;
    for (const [k, t] of sd) {
      expect(Buffer.compare(bytesOf(t.data), bytesOf(st.get(k)!.data))).toBe(0);
      n += numel(t.shape);
    }
    expect(n).toBe(787816);
  });
});

function extractPkl(pth: Uint8Array): Uint8Array {
  // writePthRaw names its pickle archive/data.pkl; reused with a hand-picked set of other entries
  return openZip(pth).read('archive/data.pkl').slice();
}
