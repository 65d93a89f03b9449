import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { fixturePath, fixtureTensor } from '../testing/fixtures';
import { ImageDecodeError, decodeImage, encodeMaskPng, encodeRgbPng } from './image-io';

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
