import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  NiftiDatatype,
  NiftiError,
  NiftiTruncatedError,
  NiftiUnsupportedError,
  SliceOptionsError,
  readNifti,
  sliceVolume,
  volumePercentiles,
  writeNifti,
} from './nifti';

/** A 4×3×2 ramp with negative values where the type allows them. */
const dims = [4, 3, 2];
const ramp = (signed: boolean) => Array.from({ length: 24 }, (_, i) => (signed ? i - 10 : i) * 3);

describe('readNifti', () => {
  const cases: [NiftiDatatype, boolean][] = [
    ['uint8', false],
    ['int8', true],
    ['int16', true],
    ['uint16', false],
    ['int32', true],
    ['uint32', false],
    ['float32', true],
    ['float64', true],
  ];
  for (const [dt, signed] of cases)
    for (const le of [true, false])
      for (const gz of [false, true])
        it(`reads ${dt}, ${le ? 'little' : 'big'}-endian${gz ? ', gzipped' : ''}`, () => {
          const data = ramp(signed);
          const v = readNifti(
            writeNifti({ dims, datatype: dt, data, littleEndian: le, gzip: gz, pixdim: [0.5, 0.7, 3] }),
          );
          expect(v.dims).toEqual([4, 3, 2]);
          expect(v.datatype).toBe(dt);
          expect(v.littleEndian).toBe(le);
          expect(Array.from(v.data)).toEqual(data);
          expect(v.pixdim.map((p) => Math.round(p * 10) / 10)).toEqual([0.5, 0.7, 3]);
        });

  it('applies scl_slope and scl_inter (slope 0 means unscaled)', () => {
    const data = [0, 1, 2, 100];
    const scaled = readNifti(
      writeNifti({ dims: [4], datatype: 'int16', data, sclSlope: 2.5, sclInter: -1024 }),
    );
    expect(Array.from(scaled.data)).toEqual([-1024, -1021.5, -1019, -774]);
    expect(
      Array.from(
        readNifti(writeNifti({ dims: [4], datatype: 'int16', data, sclSlope: 0, sclInter: 5 })).data,
      ),
    ).toEqual(data);
  });

  it('uses the first volume of a 4-D file', () => {
    const data = Array.from({ length: 2 * 2 * 1 * 3 }, (_, i) => i);
    const v = readNifti(writeNifti({ dims: [2, 2, 1, 3], datatype: 'uint8', data }));
    expect(v.volumes).toBe(3);
    expect(Array.from(v.data)).toEqual([0, 1, 2, 3]);
  });

  it('names what is wrong with a truncated, corrupt or unsupported file', () => {
    const good = writeNifti({ dims, datatype: 'int16', data: ramp(true) });
    expect(() => readNifti(good.slice(0, 100), 'a.nii')).toThrow(NiftiTruncatedError);
    expect(() => readNifti(good.slice(0, good.length - 1), 'a.nii')).toThrow(
      /truncated.*needs 400 bytes.*399/,
    );
    const gz = gzipSync(good);
    expect(() => readNifti(gz.subarray(0, gz.length - 20), 'a.nii.gz')).toThrow(NiftiTruncatedError);
    const badGz = Uint8Array.from(gz);
    badGz.fill(0x55, 10, 40);
    expect(() => readNifti(badGz, 'b.nii.gz')).toThrow(/b.nii.gz: corrupt gzip/);
    expect(() => readNifti(new Uint8Array(400), 'z.nii')).toThrow(/not a NIfTI-1 file/);
    const mut = (f: (dv: DataView, b: Uint8Array) => void) => {
      const b = Uint8Array.from(good);
      f(new DataView(b.buffer), b);
      return b;
    };
    expect(() => readNifti(mut((dv) => dv.setInt32(0, 540, true)))).toThrow(NiftiUnsupportedError);
    expect(() => readNifti(mut((_dv, b) => b.set([0x6e, 0x69, 0x31], 344)))).toThrow(/two-file/);
    expect(() => readNifti(mut((_dv, b) => b.set([0x41, 0x42, 0x43], 344)))).toThrow(/magic/);
    expect(() => readNifti(mut((dv) => dv.setInt16(70, 32, true)))).toThrow(/complex64.*not supported/);
    expect(() => readNifti(mut((dv) => dv.setInt16(70, 99, true)))).toThrow(/unknown datatype code 99/);
    expect(() => readNifti(mut((dv) => dv.setInt16(72, 8, true)))).toThrow(/bitpix/);
    expect(() => readNifti(mut((dv) => dv.setInt16(40, 9, true)))).toThrow(/dim\[0\] = 9/);
    expect(() => readNifti(mut((dv) => dv.setInt16(44, 0, true)))).toThrow(/dim\[2\] = 0/);
    expect(() => readNifti(mut((dv) => (dv.setInt16(40, 5, true), dv.setInt16(50, 2, true))))).toThrow(/5-D/);
    expect(() => readNifti(mut((dv) => dv.setFloat32(108, 10, true)))).toThrow(/vox_offset/);
    for (const e of [NiftiTruncatedError, NiftiUnsupportedError])
      expect(new e('x')).toBeInstanceOf(NiftiError);
  });
});

describe('readNifti on gzip bombs', () => {
  it('refuses a .nii.gz that inflates past what its header declares, without inflating it all', () => {
    const plain = writeNifti({ dims: [8, 8, 1], datatype: 'uint8', data: new Float32Array(64) });
    // The same header followed by 256 MiB of zeros: ~256 KiB of gzip.
    const bomb = gzipSync(Buffer.concat([Buffer.from(plain), Buffer.alloc(256 * 2 ** 20)]));
    expect(bomb.length).toBeLessThan(2 ** 20);
    const before = process.memoryUsage().rss;
    expect(() => readNifti(bomb, 'bomb.nii.gz')).toThrow(
      /bomb.nii.gz: gzip data inflates to more than its header/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(128 * 2 ** 20);
  });

  it('refuses a header that declares more voxels than the reader inflates, before inflating', () => {
    const hdr = Buffer.from(writeNifti({ dims: [4, 4, 4], datatype: 'float32', data: new Float32Array(64) }));
    hdr.writeInt16LE(4, 40); // dim[0] = 4
    hdr.writeInt16LE(8192, 42);
    hdr.writeInt16LE(8192, 44);
    hdr.writeInt16LE(1, 46);
    hdr.writeInt16LE(40, 48); // 40 volumes of 8192² float32: 10.7 GB inflated
    expect(() => readNifti(gzipSync(hdr), 'big.nii.gz')).toThrow(
      /big.nii.gz: .*more than this reader inflates/,
    );
  });
});

describe('sliceVolume', () => {
  // 3×2×3 volume: value = 100·k + 10·j + i; labels: 1 at (0,0,0), 2 at (2,1,2), 1 at (1,1,2).
  const nx = 3;
  const ny = 2;
  const nz = 3;
  const idx = (i: number, j: number, k: number) => i + nx * (j + ny * k);
  const values = Array.from({ length: nx * ny * nz }, (_, n) => {
    const i = n % nx;
    const j = Math.floor(n / nx) % ny;
    const k = Math.floor(n / (nx * ny));
    return 100 * k + 10 * j + i;
  });
  const lab = new Array<number>(nx * ny * nz).fill(0);
  lab[idx(0, 0, 0)] = 1;
  lab[idx(2, 1, 2)] = 2;
  lab[idx(1, 1, 2)] = 1;
  const image = readNifti(writeNifti({ dims: [nx, ny, nz], datatype: 'int16', data: values }));
  const labels = readNifti(writeNifti({ dims: [nx, ny, nz], datatype: 'uint8', data: lab }));

  it('cuts axial slices, windows intensities, makes per-label masks and skips empty slices', () => {
    const s = sliceVolume(image, labels, { window: [0, 255] });
    expect(s.labels).toEqual([1, 2]);
    expect(s.slices.map((x) => x.index)).toEqual([0, 2]);
    const [a, b] = s.slices;
    expect([a.width, a.height]).toEqual([3, 2]);
    // Rows run bottom-up: row 0 is j = 1.
    expect(Array.from(a.image)).toEqual([10, 11, 12, 0, 1, 2]);
    expect(a.masks.map((m) => m.label)).toEqual([1]);
    expect(Array.from(a.masks[0].data)).toEqual([0, 0, 0, 1, 0, 0]);
    expect(Array.from(b.image)).toEqual([210, 211, 212, 200, 201, 202]);
    expect(b.masks.map((m) => [m.label, Array.from(m.data)])).toEqual([
      [1, [0, 1, 0, 0, 0, 0]],
      [2, [0, 0, 1, 0, 0, 0]],
    ]);
    expect(sliceVolume(image, labels, { keepEmpty: true }).slices).toHaveLength(3);
    expect(sliceVolume(image, labels, { minForeground: 2 }).slices).toHaveLength(0);
    expect(sliceVolume(image, labels, { labels: [2] }).slices.map((x) => x.index)).toEqual([2]);
  });

  it('slices along the other axes with the right shapes', () => {
    const s0 = sliceVolume(image, labels, { axis: 0, keepEmpty: true, window: [0, 255] });
    expect(s0.slices).toHaveLength(3);
    expect([s0.slices[0].width, s0.slices[0].height]).toEqual([2, 3]);
    // i = 0: columns j, rows k bottom-up → first row is k = 2.
    expect(Array.from(s0.slices[0].image)).toEqual([200, 210, 100, 110, 0, 10]);
    const s1 = sliceVolume(image, labels, { axis: 1, keepEmpty: true, window: [0, 255] });
    expect([s1.slices[0].width, s1.slices[0].height]).toEqual([3, 3]);
  });

  it('windows automatically at the 0.5/99.5 percentiles and clips outliers', () => {
    const n = 1000;
    const data = Array.from({ length: n }, (_, i) => i);
    data[0] = -50000;
    data[n - 1] = 90000;
    const v = readNifti(writeNifti({ dims: [10, 10, 10], datatype: 'float32', data }));
    const [lo, hi] = volumePercentiles(v.data, 0.5, 99.5);
    expect(lo).toBeGreaterThan(0);
    expect(lo).toBeLessThan(10);
    expect(hi).toBeGreaterThan(990);
    expect(hi).toBeLessThan(999);
    const s = sliceVolume(v, undefined, { keepEmpty: true });
    expect(s.window).toEqual([lo, hi]);
    expect(s.slices[0].image[s.slices[0].image.length - 10]).toBe(0); // voxel 0, bottom row, clipped low
    expect(s.slices[9].image[9]).toBe(255); // voxel 999, top row, clipped high
  });

  it('refuses mismatched label volumes and bad options', () => {
    const other = readNifti(writeNifti({ dims: [3, 2, 2], datatype: 'uint8', data: new Array(12).fill(0) }));
    expect(() => sliceVolume(image, other)).toThrow(/3×2×2 but the image is 3×2×3/);
    expect(() => sliceVolume(image, labels, { window: [5, 5] })).toThrow(SliceOptionsError);
    expect(() => sliceVolume(image, labels, { minForeground: 0 })).toThrow(/minForeground/);
    expect(() => sliceVolume(image, labels, { axis: 3 as 2 })).toThrow(/axis/);
  });
});
