/**
 * Image files in and out of the library: PNG and JPEG decoded to 8-bit RGB (the common 8-bit PNGs by hand on
 * the native inflate, RGB and RGBA rows unfiltered on a WebAssembly SIMD kernel where it runs, every other PNG kind
 * through pngjs, JPEG through jpeg-js), sizes read from the header and
 * refused before decoding (decompression bombs), and the PNG writers for masks (`serve` answers one per request)
 * and previews. Hand-written where `serve` pays per request; the libraries stay for the rare kinds.
 */
import { constants as zlibConstants, crc32, deflateSync, inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { unfilterRgbSimd } from './png-unfilter-simd';

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
  /**
   * How 8-bit RGB/RGBA PNG rows are unfiltered: 'auto' (default) on the WebAssembly SIMD kernel where it runs
   * (png-unfilter-simd.ts), 'js' on the plain-JS loops always (for tests and side-by-side measurements).
   */
  pngUnfilter?: 'auto' | 'js';
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
    const fast = decodePngFast(buf, nameForErrors, opts.pngUnfilter !== 'js');
    if (fast) {
      if (fast.width !== header?.width || fast.height !== header.height)
        throw new ImageDecodeError(
          `${nameForErrors}: decoded ${fast.width}×${fast.height} does not match its header`,
        );
      return fast;
    }
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

/**
 * The common PNG straight to RGB: 8-bit grey, grey + alpha, RGB or RGBA, not interlaced — what scanners,
 * viewers and `encodeRgbPng` write. One native inflate of the joined IDAT chunks, the five row filters undone in
 * place, the colour channels copied out (alpha dropped, as decodeImage always did). Every chunk's CRC, the
 * zlib stream and the exact data length are checked, so a damaged file is refused as pngjs refuses it. Returns
 * null for every other kind (palette, 1/2/4/16-bit, interlaced), which pngjs decodes. ~5–10× faster than
 * pngjs on a 256-px image (pngjs's stream machinery and RGBA expansion dominate there), which `serve` pays per
 * request.
 */
function decodePngFast(buf: Uint8Array, name: string, simd: boolean): RgbImage | null {
  const corrupt = (why: string) => new ImageDecodeError(`${name}: corrupt PNG (${why})`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 33 || view.getUint32(12) !== 0x49484452) return null; // IHDR first (pngjs reports otherwise)
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const [depth, colorType, compression, filter, interlace] = buf.subarray(24, 29);
  const channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number | undefined>)[colorType];
  if (depth !== 8 || !channels || compression !== 0 || filter !== 0 || interlace !== 0) return null;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let o = 8; o < buf.length;) {
    if (o + 12 > buf.length) throw corrupt('truncated chunk');
    const len = view.getUint32(o);
    const type = view.getUint32(o + 4);
    if (o + 12 + len > buf.length) throw corrupt('truncated chunk');
    if (crc32(buf.subarray(o + 4, o + 8 + len)) !== view.getUint32(o + 8 + len)) throw corrupt('crc error');
    if (type === 0x49444154) idat.push(buf.subarray(o + 8, o + 8 + len)); // IDAT
    if (type === 0x49454e44) {
      ended = true; // IEND
      break;
    }
    o += 12 + len;
  }
  if (!ended) throw corrupt('no IEND chunk');
  if (!idat.length) throw corrupt('no image data');
  const stride = width * channels;
  let raw: Buffer;
  try {
    raw = inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat), {
      maxOutputLength: (stride + 1) * height + 1,
    });
  } catch (e) {
    throw corrupt((e as Error).message);
  }
  if (raw.length !== (stride + 1) * height)
    throw corrupt(`${raw.length} bytes of image data, expected ${(stride + 1) * height}`);
  // A plain Uint8Array view: inflateSync returns a Buffer, and keeping every array the row functions see of one
  // kind keeps their element accesses monomorphic.
  const filtered = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (simd && (channels === 3 || channels === 4)) {
    const data = unfilterRgbSimd(filtered, width, height, channels, (type, row) =>
      corrupt(`unknown filter type ${type} in row ${row}`),
    );
    if (data) return { width, height, data };
  }
  const data = new Uint8Array(width * height * 3);
  // The row above the first is all zeros (PNG spec): the first row runs through the same functions.
  const zeros = new Uint8Array(width * 3);
  const rgb = channels >= 3;
  for (let y = 0; y < height; y++) {
    const r = y * (stride + 1);
    const f = filtered[r];
    const up = y === 0 ? zeros : data;
    const u = y === 0 ? 0 : (y - 1) * width * 3;
    const o = y * width * 3;
    if (f > 4) throw corrupt(`unknown filter type ${f} in row ${y}`);
    if (rgb) UNFILTER_RGB[f](filtered, r + 1, data, o, up, u, width, channels);
    else UNFILTER_GREY[f](filtered, r + 1, data, o, up, u, width, channels);
  }
  return { width, height, data };
}

/*
 * PNG row unfiltering straight into the RGB output. Every filter predicts a byte from the same channel of the
 * pixel to the left (a), above (b) and above-left (c), never from another channel, so the colour channels are
 * unfiltered from the previous *output* row and written once, and alpha is never unfiltered at all (it is
 * dropped). One function per filter and per layout (three colour channels, or grey written three times), each
 * a flat loop over typed arrays with the left and above-left values carried in locals: the single generic loop
 * with a filter switch this replaces spent ~2.3 ms on a 256² RGBA image of Paeth rows, this ~4× less.
 *
 * Arguments: the filtered bytes `f` from index `r` (`bpp` bytes a pixel), the output row `out` from `o`, the
 * row above `up` from `u` (RGB, three bytes a pixel; zeros for the first row), the width in pixels.
 */
type Unfilter = (
  f: Uint8Array,
  r: number,
  out: Uint8Array,
  o: number,
  up: Uint8Array,
  u: number,
  width: number,
  bpp: number,
) => void;

/** The Paeth predictor (PNG spec 9.4) without branches: noise makes its choice unpredictable. */
function paeth(a: number, b: number, c: number): number {
  let pa = b - c; // |p − a| with p = a + b − c
  let pb = a - c;
  let pc = pa + pb;
  pa = (pa ^ (pa >> 31)) - (pa >> 31);
  pb = (pb ^ (pb >> 31)) - (pb >> 31);
  pc = (pc ^ (pc >> 31)) - (pc >> 31);
  const notA = ((pb - pa) | (pc - pa)) >> 31; // −1 when pa > pb or pa > pc
  const isC = (pc - pb) >> 31; // −1 when pb > pc
  return (a & ~notA) | (notA & ((b & ~isC) | (c & isC)));
}

const UNFILTER_RGB: readonly Unfilter[] = [
  // 0 None
  (f, r, out, o, _up, _u, width, bpp) => {
    for (let x = 0; x < width; x++, r += bpp, o += 3) {
      out[o] = f[r];
      out[o + 1] = f[r + 1];
      out[o + 2] = f[r + 2];
    }
  },
  // 1 Sub
  (f, r, out, o, _up, _u, width, bpp) => {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3) {
      out[o] = a0 = (f[r] + a0) & 255;
      out[o + 1] = a1 = (f[r + 1] + a1) & 255;
      out[o + 2] = a2 = (f[r + 2] + a2) & 255;
    }
  },
  // 2 Up
  (f, r, out, o, up, u, width, bpp) => {
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3) {
      out[o] = f[r] + up[u];
      out[o + 1] = f[r + 1] + up[u + 1];
      out[o + 2] = f[r + 2] + up[u + 2];
    }
  },
  // 3 Average
  (f, r, out, o, up, u, width, bpp) => {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3) {
      out[o] = a0 = (f[r] + ((a0 + up[u]) >> 1)) & 255;
      out[o + 1] = a1 = (f[r + 1] + ((a1 + up[u + 1]) >> 1)) & 255;
      out[o + 2] = a2 = (f[r + 2] + ((a2 + up[u + 2]) >> 1)) & 255;
    }
  },
  // 4 Paeth
  (f, r, out, o, up, u, width, bpp) => {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3) {
      let b = up[u];
      out[o] = a0 = (f[r] + paeth(a0, b, c0)) & 255;
      c0 = b;
      b = up[u + 1];
      out[o + 1] = a1 = (f[r + 1] + paeth(a1, b, c1)) & 255;
      c1 = b;
      b = up[u + 2];
      out[o + 2] = a2 = (f[r + 2] + paeth(a2, b, c2)) & 255;
      c2 = b;
    }
  },
];

/** Grey (with or without alpha): one value a pixel, written to all three channels; the row above is read from R. */
const UNFILTER_GREY: readonly Unfilter[] = [
  (f, r, out, o, _up, _u, width, bpp) => {
    for (let x = 0; x < width; x++, r += bpp, o += 3) out[o] = out[o + 1] = out[o + 2] = f[r];
  },
  (f, r, out, o, _up, _u, width, bpp) => {
    let a = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3) out[o] = out[o + 1] = out[o + 2] = a = (f[r] + a) & 255;
  },
  (f, r, out, o, up, u, width, bpp) => {
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3)
      out[o] = out[o + 1] = out[o + 2] = (f[r] + up[u]) & 255;
  },
  (f, r, out, o, up, u, width, bpp) => {
    let a = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3)
      out[o] = out[o + 1] = out[o + 2] = a = (f[r] + ((a + up[u]) >> 1)) & 255;
  },
  (f, r, out, o, up, u, width, bpp) => {
    let a = 0;
    let c = 0;
    for (let x = 0; x < width; x++, r += bpp, o += 3, u += 3) {
      const b = up[u];
      out[o] = out[o + 1] = out[o + 2] = a = (f[r] + paeth(a, b, c)) & 255;
      c = b;
    }
  },
];

/** A PNG chunk: length, type, data, CRC over type and data. */
function pngChunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/**
 * Encodes a binary mask (any non-zero = foreground) as an 8-bit greyscale PNG with values 0/255. Written
 * directly (rows with filter "none", one zlib stream) in a fraction of pngjs's time: `serve` encodes one per
 * request. zlib's run-length strategy: a 0/255 mask is long runs of one byte, which RLE matching (distance 1)
 * finds without the hash-chain search of the default strategy; for a 256² mask it is both faster (0.07 vs
 * 0.10 ms at level 1) and about half the size (294 vs 619 bytes) — any PNG reader inflates it the same way.
 */
export function encodeMaskPng(mask: Uint8Array, width: number, height: number): Uint8Array {
  if (mask.length !== width * height)
    throw new Error(`mask has ${mask.length} values, expected ${width}×${height}`);
  // Every byte is written below (filter byte and pixels), so the zero fill of Buffer.alloc is not needed.
  const raw = Buffer.allocUnsafe((width + 1) * height);
  for (let y = 0, o = 0, m = 0; y < height; y++) {
    raw[o++] = 0; // filter none
    // −v >> 31 is −1 (stored as 255) for any v in 1…255 and 0 for 0: no branch on the mask's unpredictable edges.
    for (let x = 0; x < width; x++) raw[o++] = -mask[m++] >> 31;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, deflate, adaptive filtering, not interlaced
  return new Uint8Array(
    Buffer.concat([
      PNG_SIGNATURE,
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', deflateSync(raw, { level: 1, strategy: zlibConstants.Z_RLE })),
      pngChunk('IEND', new Uint8Array(0)),
    ]),
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
