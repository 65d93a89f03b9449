/** Compact PNG writing for datasets: grey images as 1-channel PNGs, colour as RGB without alpha. */
import { PNG } from 'pngjs';
import { RgbImage } from '../image/image-io';

/** True when R = G = B at every pixel (such an image loses nothing as a grey PNG). */
export function isGreyImage(img: RgbImage): boolean {
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false;
  return true;
}

function write(width: number, height: number, colorType: 0 | 2, data: Uint8Array): Uint8Array {
  const png = new PNG({
    width,
    height,
    colorType,
    inputColorType: colorType,
    inputHasAlpha: false,
    bitDepth: 8,
  });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(
    PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 }),
  );
}

/** 8-bit grey PNG of one byte per pixel. */
export function encodeGreyPng(data: Uint8Array, width: number, height: number): Uint8Array {
  if (data.length !== width * height)
    throw new Error(`grey image has ${data.length} bytes, expected ${width}×${height}`);
  return write(width, height, 0, data);
}

/** An RGB image as a grey PNG when it is grey, else as an 8-bit RGB PNG (no alpha). Deterministic bytes. */
export function encodeImagePng(img: RgbImage): Uint8Array {
  if (img.data.length !== img.width * img.height * 3)
    throw new Error(`image has ${img.data.length} bytes, expected ${img.width}×${img.height}×3`);
  if (!isGreyImage(img)) return write(img.width, img.height, 2, img.data);
  const g = new Uint8Array(img.width * img.height);
  for (let i = 0, j = 0; i < g.length; i++, j += 3) g[i] = img.data[j];
  return write(img.width, img.height, 0, g);
}
