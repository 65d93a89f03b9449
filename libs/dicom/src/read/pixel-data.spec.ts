import { describe, expect, it } from 'vitest';
import { type PixelLayout, decodeFrame } from './pixel-data';

const layout = (over: Partial<PixelLayout>): PixelLayout => ({
  rows: 1,
  columns: 4,
  samplesPerPixel: 1,
  planarConfiguration: 0,
  bitsAllocated: 16,
  bitsStored: 16,
  signed: false,
  ...over,
});
const le16 = (...words: number[]) => new Uint8Array(Uint16Array.from(words).buffer);

describe('decodeFrame', () => {
  it('sign-extends 12-bit signed samples and ignores bits above BitsStored', () => {
    // 0x0fff = −1, 0x0800 = −2048, 0x07ff = 2047; 0xf001 has garbage in the top nibble → 1.
    const data = le16(0x0fff, 0x0800, 0x07ff, 0xf001);
    expect(
      Array.from(decodeFrame(data, layout({ bitsStored: 12, signed: true }), 0, { slope: 1, intercept: 0 })),
    ).toEqual([-1, -2048, 2047, 1]);
  });

  it('applies the Modality LUT (slope, intercept) and picks frame by index', () => {
    const data = le16(0, 1, 2, 3, 1000, 1024, 2048, 4095);
    const hu = decodeFrame(data, layout({}), 1, { slope: 2, intercept: -1024 });
    expect(Array.from(hu)).toEqual([976, 1024, 3072, 7166]);
  });

  it('reads signed 16-bit and 8-bit samples', () => {
    expect(
      Array.from(
        decodeFrame(le16(0xffff, 0x8000, 0x7fff, 0), layout({ signed: true }), 0, { slope: 1, intercept: 0 }),
      ),
    ).toEqual([-1, -32768, 32767, 0]);
    const bytes = Uint8Array.from([0, 127, 128, 255]);
    expect(
      Array.from(
        decodeFrame(bytes, layout({ bitsAllocated: 8, bitsStored: 8 }), 0, { slope: 1, intercept: 0 }),
      ),
    ).toEqual([0, 127, 128, 255]);
  });

  it('reads pixel data that starts at an odd byte offset, and 32-bit signed samples', () => {
    const padded = new Uint8Array(9);
    padded.set(le16(0xfffe, 2, 3, 4), 1);
    const odd = padded.subarray(1);
    expect(Array.from(decodeFrame(odd, layout({ signed: true }), 0, { slope: 1, intercept: 0 }))).toEqual([
      -2, 2, 3, 4,
    ]);
    const int32 = new Uint8Array(Int32Array.from([-70000, 70000]).buffer);
    const wide = layout({ columns: 2, bitsAllocated: 32, bitsStored: 32, signed: true });
    expect(Array.from(decodeFrame(int32, wide, 0, { slope: 1, intercept: 0 }))).toEqual([-70000, 70000]);
  });

  it('turns interleaved and planar RGB into BT.601 luma, without rescale', () => {
    const rgb = layout({ columns: 2, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8 });
    const interleaved = Uint8Array.from([255, 0, 0, 0, 0, 255]);
    const planar = Uint8Array.from([255, 0, 0, 0, 0, 255]); // R R G G B B
    const noRescale = { slope: 9, intercept: 9 };
    expect(Array.from(decodeFrame(interleaved, rgb, 0, noRescale))).toEqual([
      Math.fround(0.299 * 255),
      Math.fround(0.114 * 255),
    ]);
    expect(Array.from(decodeFrame(planar, { ...rgb, planarConfiguration: 1 }, 0, noRescale))).toEqual([
      Math.fround(0.299 * 255),
      Math.fround(0.114 * 255),
    ]);
  });
});
