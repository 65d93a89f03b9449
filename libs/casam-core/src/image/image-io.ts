import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';

/** An 8-bit RGB image, HWC, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
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

/** Decodes PNG (8/16-bit, grey/RGB/palette, with or without alpha) or baseline/progressive JPEG to RGB. */
export function decodeImage(buf: Uint8Array, nameForErrors = 'image'): RgbImage {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
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
        maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
        maxMemoryUsageInMB: 2048,
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
  if (width * height > MAX_IMAGE_PIXELS)
    throw new ImageDecodeError(
      `${nameForErrors}: ${width}×${height} is larger than the ${MAX_IMAGE_PIXELS}-pixel limit`,
    );
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
