import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { fixturePath, fixtureTensor } from '../testing/fixtures';
import { ImageDecodeError, decodeImage, encodeMaskPng, encodeRgbPng, readImageSize } from './image-io';
import { PNG_SIGNATURE, pngChunk, pngClaiming } from './png-bytes.testing';
import { pngUnfilterSimdAvailable } from './png-unfilter-simd';

describe('decodeImage', () => {
  it('decodes the fixture PNG to the exact pixels the official pipeline used', () => {
    const img = decodeImage(readFileSync(fixturePath('sam-mini/test-image-256x256.png')));
    const golden = fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'input.image_u8');
    expect([img.height, img.width, 3]).toEqual(golden.shape);
    expect(Buffer.from(img.data).equals(Buffer.from(golden.data as Uint8Array))).toBe(true);
  });

  it('round-trips RGB through PNG and decodes JPEG within lossy tolerance', () => {
    const img = { width: 5, height: 3, data: Uint8Array.from({ length: 45 }, (_, i) => (i * 37) % 256) };
    expect(decodeImage(encodeRgbPng(img))).toEqual(img);
    const rgba = Buffer.alloc(16 * 16 * 4, 128);
    const jpg = jpeg.encode({ data: rgba, width: 16, height: 16 }, 95).data;
    const back = decodeImage(new Uint8Array(jpg));
    expect(back.width).toBe(16);
    expect(Math.abs(back.data[0] - 128)).toBeLessThanOrEqual(2);
  });

  it('gives a clear error for garbage, truncated PNG and truncated JPEG', () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3]), 'x.bin')).toThrow(/x.bin: not a PNG or JPEG/);
    const png = readFileSync(fixturePath('sam-mini/test-image-256x256.png'));
    expect(() => decodeImage(png.subarray(0, 200), 'cut.png')).toThrow(ImageDecodeError);
    expect(() => decodeImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1]), 'cut.jpg')).toThrow(
      /cut.jpg: corrupt JPEG/,
    );
  });

  it('converts greyscale PNG to RGB', () => {
    const m = encodeMaskPng(Uint8Array.from([0, 1, 0, 2]), 2, 2);
    const back = decodeImage(m);
    expect(Array.from(back.data)).toEqual([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]);
    expect(PNG.sync.read(Buffer.from(m)).width).toBe(2);
  });
});

/** Both ways 8-bit RGB/RGBA rows are unfiltered: the SIMD kernel (auto, where it runs) and the plain-JS loops. */
const UNFILTERS = ['auto', 'js'] as const;
/** The 8-bit PNG colour types of the fast path. */
const PNG_KINDS = [
  ['grey', 0],
  ['grey + alpha', 4],
  ['RGB', 2],
  ['RGBA', 6],
] as const;

/** pngjs's own decoding to RGB (what decodeImage did for every PNG before its fast path). */
function viaPngjs(buf: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(buf));
  const data = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) data.set(png.data.subarray(j, j + 3), i);
  return { width: png.width, height: png.height, data };
}

describe('PNG fast path (8-bit grey, grey+alpha, RGB, RGBA; not interlaced) against pngjs', () => {
  // A natural-looking image (gradients, edges, noise), so pngjs's adaptive filtering uses all five row filters.
  const [w, h] = [67, 41];
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      rgba[i] = (x * 4 + y) & 255;
      rgba[i + 1] = x > 30 ? 200 : (y * 7) & 255;
      rgba[i + 2] = (x * y * 13 + ((x ^ y) & 7)) & 255;
      rgba[i + 3] = (x + 2 * y) & 255;
    }

  it.each(UNFILTERS.flatMap((u) => PNG_KINDS.map(([name, type]) => [name, type, u] as const)))(
    '%s (colour type %s): the same pixels as pngjs, under every row filter (unfilter %s)',
    (_, colorType, pngUnfilter) => {
      for (const filterType of [-1, 0, 1, 2, 3, 4]) {
        const file = new Uint8Array(
          PNG.sync.write(Object.assign(new PNG({ width: w, height: h }), { data: rgba }), {
            colorType: colorType as 0 | 2 | 4 | 6,
            inputColorType: 6,
            bitDepth: 8,
            filterType,
          }),
        );
        expect(decodeImage(file, 'png', { pngUnfilter })).toEqual(viaPngjs(file));
      }
    },
  );

  it('leaves other kinds (here 16-bit) to pngjs, with the same pixels; the fixture decodes exactly', () => {
    const png16 = new Uint8Array(
      PNG.sync.write(Object.assign(new PNG({ width: w, height: h }), { data: rgba }), {
        colorType: 2,
        inputColorType: 6,
        bitDepth: 16,
      }),
    );
    expect(decodeImage(png16)).toEqual(viaPngjs(png16));
    const fixture = readFileSync(fixturePath('sam-mini/test-image-256x256.png'));
    expect(decodeImage(fixture)).toEqual(viaPngjs(fixture));
  });

  it('refuses a damaged file as a corrupt PNG: a flipped data byte, a bad CRC, a cut stream, a missing IEND', () => {
    const file = encodeRgbPng({ width: 9, height: 7, data: Uint8Array.from({ length: 189 }, (_, i) => i) });
    const idat = Buffer.from(file).indexOf('IDAT');
    const flipped = Uint8Array.from(file);
    flipped[idat + 10] ^= 0x55; // inside the zlib stream: the IDAT CRC no longer matches
    expect(() => decodeImage(flipped, 'f.png')).toThrow(/f.png: corrupt PNG \(crc error\)/);
    const cut = file.subarray(0, idat + 12);
    expect(() => decodeImage(cut, 'c.png')).toThrow(/c.png: corrupt PNG/);
    const noEnd = file.subarray(0, file.length - 12);
    expect(() => decodeImage(noEnd, 'n.png')).toThrow(/n.png: corrupt PNG \(no IEND chunk\)/);
    // A valid stream with a row filter that does not exist.
    const raw = Buffer.alloc((9 * 4 + 1) * 7); // encodeRgbPng writes RGBA
    raw[0] = 9;
    const bad = Buffer.from(file);
    const rebuilt = Buffer.concat([
      bad.subarray(0, idat - 4),
      pngChunk('IDAT', deflateSync(raw)),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
    expect(() => decodeImage(rebuilt, 'u.png')).toThrow(
      /u.png: corrupt PNG \(unknown filter type 9 in row 0\)/,
    );
    // The same in a later row, on both unfilter paths (the kernel unfilters the rows before it first).
    raw[0] = 4;
    raw[3 * (9 * 4 + 1)] = 5;
    const later = Buffer.concat([
      bad.subarray(0, idat - 4),
      pngChunk('IDAT', deflateSync(raw)),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
    for (const pngUnfilter of UNFILTERS)
      expect(() => decodeImage(later, 'u.png', { pngUnfilter })).toThrow(
        /u.png: corrupt PNG \(unknown filter type 5 in row 3\)/,
      );
  });

  it('writes mask PNGs that pngjs reads back to the same 0/255 pixels', () => {
    const mask = Uint8Array.from({ length: w * h }, (_, i) => (i % 7 < 3 ? 1 : 0));
    const back = PNG.sync.read(Buffer.from(encodeMaskPng(mask, w, h)));
    expect([back.width, back.height]).toEqual([w, h]);
    for (let i = 0; i < mask.length; i++) expect(back.data[4 * i]).toBe(mask[i] ? 255 : 0);
  });
});

/** A deterministic pseudo-random byte source (xorshift32), so a failing case can be rerun. */
function bytesFrom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) & 255;
  };
}

/** The PNG spec's row filters, written out plainly (encoder side): `cur`/`prev` are unfiltered rows. */
function filterRow(type: number, cur: Uint8Array, prev: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(cur.length);
  for (let i = 0; i < cur.length; i++) {
    const a = i >= bpp ? cur[i - bpp] : 0;
    const b = prev[i];
    const c = i >= bpp ? prev[i - bpp] : 0;
    const p = a + b - c;
    const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
    const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][type];
    out[i] = (cur[i] - pred) & 255;
  }
  return out;
}

/** An 8-bit PNG of `channels` samples a pixel (colour type `colorType`), each row under a random filter. */
function randomFilteredPng(
  width: number,
  height: number,
  colorType: number,
  next: () => number,
  pixels: (i: number) => number,
): Uint8Array {
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0 | 2 | 4 | 6];
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const cur = Uint8Array.from({ length: stride }, (_, i) => pixels(y * stride + i));
    const type = next() % 5;
    raw[y * (stride + 1)] = type;
    raw.set(filterRow(type, cur, prev, channels), y * (stride + 1) + 1);
    prev = cur;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  return new Uint8Array(
    Buffer.concat([
      PNG_SIGNATURE,
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', deflateSync(raw)),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

/**
 * Same size and pixels, compared as bytes: a failing toEqual on 200k-element arrays makes Vitest diff them for
 * minutes, so a mismatch reports its first differing byte instead.
 */
function expectSamePixels(a: { width: number; height: number; data: Uint8Array }, b: typeof a, what = '') {
  expect([a.width, a.height], what).toEqual([b.width, b.height]);
  const i = a.data.findIndex((v, k) => v !== b.data[k]);
  expect(i === -1 ? 'identical' : `byte ${i}: ${a.data[i]} vs ${b.data[i]}`, what).toBe('identical');
}

describe('PNG fast path parity with pngjs on random files (every row filter, random rows)', () => {
  it.each(UNFILTERS.flatMap((u) => PNG_KINDS.map(([name, type]) => [name, type, u] as const)))(
    '%s (colour type %s): noise, smooth gradients and flat areas, sizes from 1×1 up (unfilter %s)',
    (_, colorType, pngUnfilter) => {
      for (let seed = 1; seed <= 24; seed++) {
        const next = bytesFrom(seed * 7919 + colorType);
        const width = 1 + (next() % 40);
        const height = 1 + (next() % 30);
        // Noise (every Paeth choice and wrap-around), then gradients, then constant: what real images mix.
        const kind = seed % 3;
        const file = randomFilteredPng(width, height, colorType, next, (i) =>
          kind === 0 ? next() : kind === 1 ? (i * 3 + (i >> 5)) & 255 : 200,
        );
        expectSamePixels(
          decodeImage(file, 'png', { pngUnfilter }),
          viaPngjs(file),
          `seed ${seed}, ${width}×${height}`,
        );
      }
    },
  );

  it.each(UNFILTERS)(
    'a 256² RGBA image with every row Paeth (what pngjs writes for photos) decodes as pngjs does (unfilter %s)',
    (pngUnfilter) => {
      const next = bytesFrom(42);
      const file = randomFilteredPng(
        256,
        256,
        6,
        () => 4,
        (i) => ((i & 3) === 3 ? 255 : (next() >> 2) + (i & 63)),
      );
      expectSamePixels(decodeImage(file, 'png', { pngUnfilter }), viaPngjs(file));
    },
  );

  it('the SIMD kernel runs here (else the auto rows above only repeat the plain-JS ones)', () => {
    expect(pngUnfilterSimdAvailable()).toBe(true);
  });

  it('kinds outside the fast path (palette, interlaced, 16-bit) still decode through pngjs', () => {
    const ihdr = (w: number, h: number, depth: number, type: number, interlace: number) => {
      const b = Buffer.alloc(13);
      b.writeUInt32BE(w, 0);
      b.writeUInt32BE(h, 4);
      b.set([depth, type, 0, 0, interlace], 8);
      return pngChunk('IHDR', b);
    };
    const file = (...chunks: Buffer[]) =>
      new Uint8Array(Buffer.concat([PNG_SIGNATURE, ...chunks, pngChunk('IEND', Buffer.alloc(0))]));
    // Palette: 3×2, indices 0..2 into red, green, blue.
    const palette = file(
      ihdr(3, 2, 8, 3, 0),
      pngChunk('PLTE', Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255])),
      pngChunk('IDAT', deflateSync(Buffer.from([0, 0, 1, 2, 0, 2, 1, 0]))),
    );
    expectSamePixels(decodeImage(palette), viaPngjs(palette));
    expect(Array.from(decodeImage(palette).data.subarray(0, 9))).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    // Adam7-interlaced 8-bit grey 3×3: the passes that hold pixels are 1 (0,0), 4 (2,0), 5 (0,2)(2,2), 6 (1,0)
    // (1,2), 7 (row 1): each pass row with filter None.
    const g = (x: number, y: number) => 10 + 30 * y + x;
    const passes = [
      [0, g(0, 0)],
      [0, g(2, 0)],
      [0, g(0, 2), g(2, 2)],
      [0, g(1, 0), 0, g(1, 2)],
      [0, g(0, 1), g(1, 1), g(2, 1)],
    ].flat();
    const interlaced = file(ihdr(3, 3, 8, 0, 1), pngChunk('IDAT', deflateSync(Buffer.from(passes))));
    const back = decodeImage(interlaced);
    expectSamePixels(back, viaPngjs(interlaced));
    expect(Array.from({ length: 9 }, (_, i) => back.data[3 * i])).toEqual(
      Array.from({ length: 9 }, (_, i) => g(i % 3, Math.floor(i / 3))),
    );
  });
});

/** A valid PNG (correct CRCs) whose header claims width×height but whose data is a few bytes. */
function pngBomb(width: number, height: number): Uint8Array {
  return new Uint8Array(pngClaiming(width, height, deflateSync(Buffer.alloc(16))));
}

describe('decompression bombs are refused from the header, before decoding', () => {
  it('a ~70-byte PNG claiming 30000×30000 is refused without allocating for it', () => {
    const bomb = pngBomb(30000, 30000);
    expect(bomb.length).toBeLessThan(100);
    expect(readImageSize(bomb)).toEqual({ width: 30000, height: 30000 });
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    expect(() => decodeImage(bomb, 'bomb.png')).toThrow(/bomb.png: 30000×30000 .*refused before decoding/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 2 ** 20);
  });

  it('a JPEG whose frame header claims 60000×60000 is refused the same way', () => {
    const ok = jpeg.encode({ data: Buffer.alloc(8 * 8 * 4, 90), width: 8, height: 8 }, 90).data;
    const big = Buffer.from(ok);
    const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    big.writeUInt16BE(60000, sof + 5);
    big.writeUInt16BE(60000, sof + 7);
    expect(readImageSize(big)).toEqual({ width: 60000, height: 60000 });
    expect(() => decodeImage(big, 'big.jpg')).toThrow(/big.jpg: 60000×60000 .*refused before decoding/);
  });

  it('a caller may set a smaller limit (serve does)', () => {
    const png = encodeRgbPng({ width: 40, height: 30, data: new Uint8Array(40 * 30 * 3) });
    expect(decodeImage(png, 'p', { maxPixels: 1200 }).width).toBe(40);
    expect(() => decodeImage(png, 'p', { maxPixels: 1199 })).toThrow(
      /40×30 is larger than the 1199-pixel limit/,
    );
  });
});
