import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';

/** An 8-bit RGB image, HWC, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A gray image (one byte a pixel) as RGB bytes, the gray value in all three channels. */
export function grayToRgb(gray: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0, j = 0; i < gray.length; i++, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = gray[i];
  return rgb;
}

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/** Images larger than this are refused before decoding (a 16k×16k RGBA would need 1 GiB). */
export const MAX_IMAGE_PIXELS = 8192 * 8192;

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}
function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/**
 * Width and height from the file header (PNG IHDR, JPEG SOFn), without decoding anything: a 74-byte PNG can
 * claim 30000×30000 pixels, and the decoders allocate for the claim before they find the data missing.
 * Returns null when the header is not readable (the decoder then reports the damage).
 */
export function readImageSize(buf: Uint8Array): { width: number; height: number } | null {
  const u32 = (o: number): number =>
    ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
  const u16 = (o: number): number => (buf[o] << 8) | buf[o + 1];
  if (isPng(buf)) {
    // Signature (8) + chunk length (4) + "IHDR" (4) + width (4) + height (4).
    if (buf.length < 24 || String.fromCharCode(...buf.subarray(12, 16)) !== 'IHDR') return null;
    return { width: u32(16), height: u32(20) };
  }
  if (isJpeg(buf)) {
    let o = 2;
    while (o + 4 <= buf.length) {
      if (buf[o] !== 0xff) return null;
      const marker = buf[o + 1];
      if (marker === 0xff) {
        o++; // fill byte
        continue;
      }
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
        o += 2; // no length
        continue;
      }
      const len = u16(o + 2);
      if (len < 2) return null;
      // SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision (1), height (2), width (2).
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        if (o + 9 > buf.length) return null;
        return { width: u16(o + 7), height: u16(o + 5) };
      }
      if (marker === 0xda || marker === 0xd9) return null; // scan data before any frame header
      o += 2 + len;
    }
    return null;
  }
  return null;
}

export interface DecodeImageOptions {
  /** Largest accepted width × height (default MAX_IMAGE_PIXELS); checked on the header, before decoding. */
  maxPixels?: number;
}

/** Decodes PNG (8/16-bit, grey/RGB/palette, with or without alpha) or baseline/progressive JPEG to RGB. */
export function decodeImage(
  buf: Uint8Array,
  nameForErrors = 'image',
  opts: DecodeImageOptions = {},
): RgbImage {
  const maxPixels = opts.maxPixels ?? MAX_IMAGE_PIXELS;
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  const header = readImageSize(buf);
  if (header) {
    if (header.width < 1 || header.height < 1)
      throw new ImageDecodeError(`${nameForErrors}: image has no pixels`);
    if (header.width * header.height > maxPixels)
      throw new ImageDecodeError(
        `${nameForErrors}: ${header.width}×${header.height} is larger than the ${maxPixels}-pixel limit ` +
          `(refused before decoding)`,
      );
  } else if (isPng(buf) || isJpeg(buf)) {
    throw new ImageDecodeError(
      `${nameForErrors}: corrupt ${isPng(buf) ? 'PNG' : 'JPEG'} (no readable image size in the header)`,
    );
  }
  if (isPng(buf)) {
    try {
      const png = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } catch (e) {
      throw new ImageDecodeError(`${nameForErrors}: corrupt PNG (${(e as Error).message})`);
    }
  } else if (isJpeg(buf)) {
    try {
      const j = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        // Decoded bytes: RGBA output plus the decoder's component planes, bounded by the same pixel limit.
        maxMemoryUsageInMB: Math.ceil((maxPixels * 8) / 2 ** 20) + 16,
      });
      ({ width, height } = j);
      rgba = j.data;
    } catch (e) {
      throw new ImageDecodeError(`${nameForErrors}: corrupt JPEG (${(e as Error).message})`);
    }
  } else {
    throw new ImageDecodeError(`${nameForErrors}: not a PNG or JPEG file`);
  }
  if (width < 1 || height < 1) throw new ImageDecodeError(`${nameForErrors}: image has no pixels`);
  if (width * height > maxPixels || width !== header?.width || height !== header.height)
    throw new ImageDecodeError(`${nameForErrors}: decoded ${width}×${height} does not match its header`);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j];
    data[i + 1] = rgba[j + 1];
    data[i + 2] = rgba[j + 2];
  }
  return { width, height, data };
}

/** Encodes a binary mask (any non-zero = foreground) as an 8-bit greyscale PNG with values 0/255. */
export function encodeMaskPng(mask: Uint8Array, width: number, height: number): Uint8Array {
  if (mask.length !== width * height)
    throw new Error(`mask has ${mask.length} values, expected ${width}×${height}`);
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const grey = Buffer.alloc(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = mask[i] ? 255 : 0;
  png.data = grey;
  return new Uint8Array(
    PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 }),
  );
}

/** Encodes an RGB image as PNG (used for synthetic data and previews). */
export function encodeRgbPng(img: RgbImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    png.data[j] = img.data[i];
    png.data[j + 1] = img.data[i + 1];
    png.data[j + 2] = img.data[i + 2];
    png.data[j + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}
