/**
 * Image and coordinate transforms around the model, matching the official `ResizeLongestSide`,
 * `Sam.preprocess` and `Sam.postprocess_masks` numerically. Plain TypeScript on typed arrays, except
 * `postprocessMasksTf`, the differentiable version for training.
 */
import { tf } from './tf';
import { SamConfig } from './config';
import { HostTensor, float32Tensor, toFloat32 } from '../tensor/host-tensor';

/** (h, w). */
export type Size = readonly [number, number];

export interface U8Image {
  /** HWC, row-major. */
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** Resizes images and prompt coordinates so the longest side is `targetLength` (the official transform). */
export class ResizeLongestSide {
  constructor(readonly targetLength: number) {}

  /** New (h, w) with the official rounding `int(x + 0.5)` (sizes are positive, so floor(x + 0.5)). */
  static getPreprocessShape(oldh: number, oldw: number, longSideLength: number): [number, number] {
    const scale = (longSideLength * 1.0) / Math.max(oldh, oldw);
    return [Math.floor(oldh * scale + 0.5), Math.floor(oldw * scale + 0.5)];
  }

  /** Flat (x, y, x, y, …) in original pixels → input-frame pixels (float64; the scale differs per axis). */
  applyCoordsArray(xy: ArrayLike<number>, originalSize: Size): Float64Array {
    const [oldh, oldw] = originalSize;
    const [newh, neww] = ResizeLongestSide.getPreprocessShape(oldh, oldw, this.targetLength);
    const out = new Float64Array(xy.length);
    for (let i = 0; i < xy.length; i += 2) {
      out[i] = xy[i] * (neww / oldw);
      out[i + 1] = xy[i + 1] * (newh / oldh);
    }
    return out;
  }

  applyCoords(coords: readonly (readonly [number, number])[], originalSize: Size): [number, number][] {
    const t = this.applyCoordsArray(coords.flat(), originalSize);
    return coords.map((_, i) => [t[2 * i], t[2 * i + 1]]);
  }

  /** Boxes (x0, y0, x1, y1): both corners go through applyCoords. */
  applyBoxes(
    boxes: readonly (readonly [number, number, number, number])[],
    originalSize: Size,
  ): [number, number, number, number][] {
    const t = this.applyCoordsArray(boxes.flat(), originalSize);
    return boxes.map((_, i) => [t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]]);
  }

  /** uint8 HWC → resized uint8 HWC, the way torchvision resizes a PIL image (PIL bilinear). */
  applyImage(image: Uint8Array, height: number, width: number, channels = 3): U8Image {
    const [h, w] = ResizeLongestSide.getPreprocessShape(height, width, this.targetLength);
    return { data: resizeU8Pil(image, height, width, channels, h, w), height: h, width: w, channels };
  }
}

// ---------------------------------------------------------------------------------------------------------
// PIL-compatible bilinear resize of uint8 images.

/** PIL's fixed-point precision for 8-bit resampling. */
const PRECISION_BITS = 32 - 8 - 2;

export interface PilCoeffs {
  ksize: number;
  /** Per output pixel: first input index and number of taps. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output pixel. */
  kk: Int32Array;
}

/**
 * PIL's separable coefficients for the triangle (bilinear) filter: the support is 1 input pixel, widened by
 * the scale factor when down-scaling (that is PIL's antialiasing); weights are normalised per output pixel in
 * double precision, then rounded to 22-bit fixed point.
 */
export function pilCoeffs(inSize: number, outSize: number): PilCoeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts truncate toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = Math.abs((x + xmin - center + 0.5) * ss);
      t = t < 1 ? 1 - t : 0;
      k[x] = t;
      ww += t;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x] / ww : k[x]) : 0;
      kk[xx * ksize + x] =
        v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** Fixed-point accumulator → uint8 (arithmetic shift, clamp), as PIL's clip8. */
function clip8(acc: number): number {
  // acc < 2^31 (non-negative weights summing to 2^22, times ≤ 255, plus half): `>>` is floor(acc / 2^22).
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes a uint8 HWC image exactly as Pillow's `Image.resize(..., BILINEAR)` does: a horizontal pass, then
 * a vertical pass, each rounding to uint8, with fixed-point weights. A pass is skipped when its axis keeps
 * its size.
 *
 * Written for speed (`serve` and the embedding phase resize every image larger than the model's input, e.g. a
 * 512² CT slice to 256²): the horizontal pass keeps one accumulator per channel (three in registers for RGB)
 * and the vertical pass adds whole source rows into a row of int32 accumulators, so both stream through
 * contiguous memory; every sum is an exact integer below 2^31, so the result is the same bytes as the
 * per-value loops this replaced (transforms.spec.ts checks them against each other). 512² → 256² RGB:
 * 9.1 → 5.7 ms side by side (numbers in the commit).
 */
export function resizeU8Pil(
  src: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outH: number,
  outW: number,
): Uint8Array {
  if (src.length !== height * width * channels)
    throw new Error(`resizeU8Pil: ${src.length} bytes for ${height}x${width}x${channels}`);
  let cur = src;
  let curW = width;
  if (outW !== width) {
    cur = resizeRows(cur, height, width, channels, outW);
    curW = outW;
  }
  if (outH !== height) cur = resizeColumns(cur, height, curW * channels, outH);
  return cur === src ? src.slice() : cur;
}

/** The horizontal pass: each row from `width` to `outW` pixels. */
function resizeRows(
  src: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outW: number,
): Uint8Array {
  const { ksize, bounds, kk } = pilCoeffs(width, outW);
  const half = 1 << (PRECISION_BITS - 1);
  const out = new Uint8Array(height * outW * channels);
  for (let y = 0, o = 0; y < height; y++) {
    const rowIn = y * width * channels;
    for (let xx = 0; xx < outW; xx++) {
      const n = bounds[xx * 2 + 1];
      const k0 = xx * ksize;
      let p = rowIn + bounds[xx * 2] * channels;
      if (channels === 3) {
        let a0 = half;
        let a1 = half;
        let a2 = half;
        for (let x = 0; x < n; x++, p += 3) {
          const k = kk[k0 + x];
          a0 += src[p] * k;
          a1 += src[p + 1] * k;
          a2 += src[p + 2] * k;
        }
        out[o++] = clip8(a0);
        out[o++] = clip8(a1);
        out[o++] = clip8(a2);
      } else if (channels === 1) {
        let a = half;
        for (let x = 0; x < n; x++, p++) a += src[p] * kk[k0 + x];
        out[o++] = clip8(a);
      } else
        for (let ch = 0; ch < channels; ch++) {
          let acc = half;
          for (let x = 0, q = p + ch; x < n; x++, q += channels) acc += src[q] * kk[k0 + x];
          out[o++] = clip8(acc);
        }
    }
  }
  return out;
}

/** The vertical pass: `height` rows of `rowLen` values to `outH` rows. */
function resizeColumns(src: Uint8Array, height: number, rowLen: number, outH: number): Uint8Array {
  const { ksize, bounds, kk } = pilCoeffs(height, outH);
  const half = 1 << (PRECISION_BITS - 1);
  const out = new Uint8Array(outH * rowLen);
  const acc = new Int32Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    acc.fill(half);
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    for (let y = 0; y < n; y++) {
      const k = kk[yy * ksize + y];
      for (let i = 0, p = (y + ymin) * rowLen; i < rowLen; i++, p++) acc[i] += src[p] * k;
    }
    for (let i = 0, o = yy * rowLen; i < rowLen; i++, o++) out[o] = clip8(acc[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Sam.preprocess

/**
 * Sam.preprocess: uint8 HWC RGB (already resized, h, w ≤ imgSize) → NCHW [1,3,S,S] float32,
 * (x − mean) / std per channel in float32, then zero padding on the right and bottom.
 */
export function preprocess(image: Uint8Array, height: number, width: number, cfg: SamConfig): HostTensor {
  if (image.length !== height * width * 3)
    throw new Error(`preprocess: expected ${height}x${width}x3 uint8 RGB`);
  return normalize(image, height, width, 3, cfg);
}

/**
 * preprocess from HWC bytes with `channels` values a pixel: 3 (RGB), or 1 (a grey plane, its value read for all
 * three channels, as if R = G = B).
 */
function normalize(
  image: Uint8Array,
  height: number,
  width: number,
  channels: 1 | 3,
  cfg: SamConfig,
): HostTensor {
  const s = cfg.imgSize;
  if (height > s || width > s)
    throw new Error(`preprocess: ${height}x${width} image exceeds ${s}x${s}; resize first`);
  const out = new Float32Array(3 * s * s);
  // A uint8 channel has 256 values: each channel's 256 results are computed once and looked up per pixel
  // (the same numbers; serve pays this per request, 2.2 -> 1.2 ms for 256² under load, side by side).
  const lut = new Float32Array(256);
  for (let c = 0; c < 3; c++) {
    const plane = c * s * s;
    const mean = Math.fround(cfg.pixelMean[c]);
    const std = Math.fround(cfg.pixelStd[c]);
    // Two float32 roundings, as PyTorch computes (x − mean) then / std (the quotient of two float32 values
    // rounded once from double is the float32 quotient, so the store's rounding is the second).
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(v - mean) / std;
    const first = channels === 3 ? c : 0;
    for (let y = 0; y < height; y++) {
      const o = plane + y * s;
      for (let x = 0, i = y * width * channels + first; x < width; x++, i += channels)
        out[o + x] = lut[image[i]];
    }
  }
  return float32Tensor([1, 3, s, s], out);
}

/**
 * The grey plane of an RGB image whose every pixel has R = G = B (a CT or MR slice, whatever file it came in),
 * else null. A colour image is usually told from its first pixels; a grey one costs one pass.
 */
function greyPlane(rgb: Uint8Array, pixels: number): Uint8Array | null {
  const grey = new Uint8Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) {
    const r = rgb[j];
    if (r !== rgb[j + 1] || r !== rgb[j + 2]) return null;
    grey[i] = r;
  }
  return grey;
}

/** An image the model cannot take whatever the prompt (imageShapeProblem): the caller's input, not a fault. */
export class ImageShapeError extends Error {
  override name = 'ImageShapeError';
}

/**
 * Why an image of this size cannot go to a model with `imgSize`-px input, or null: its short side must not
 * round to 0 px when the long side is scaled to `imgSize` (a 1×700 strip would; official SAM fails there too).
 */
export function imageShapeProblem(height: number, width: number, imgSize: number): string | null {
  if (!(height >= 1 && width >= 1)) return `a ${height}×${width} image has no pixels`;
  const [h, w] = ResizeLongestSide.getPreprocessShape(height, width, imgSize);
  if (h >= 1 && w >= 1) return null;
  return (
    `a ${height}×${width} image is too elongated: scaled to the model's ${imgSize}-px input it would be ${h}×${w} ` +
    `pixels (the short side must be at least ${Math.ceil(Math.max(height, width) / (2 * imgSize))} px)`
  );
}

/**
 * ResizeLongestSide + preprocess in one call; also returns the sizes postprocessMasks needs.
 *
 * A grey image that must be resized is resized as one plane: the resize treats channels independently, so
 * three equal channels give three equal results, and one plane is a third of the work (512² → 256²: numbers in
 * the commit). The result is the same bytes (transforms.spec.ts).
 */
export function prepareImage(
  image: Uint8Array,
  height: number,
  width: number,
  cfg: SamConfig,
): { preprocessed: HostTensor; inputSize: [number, number]; originalSize: [number, number] } {
  if (image.length !== height * width * 3)
    throw new Error(`prepareImage: expected ${height}x${width}x3 uint8 RGB, got ${image.length} bytes`);
  const problem = imageShapeProblem(height, width, cfg.imgSize);
  if (problem) throw new ImageShapeError(problem);
  const [h, w] = ResizeLongestSide.getPreprocessShape(height, width, cfg.imgSize);
  const grey = h !== height || w !== width ? greyPlane(image, height * width) : null;
  const preprocessed = grey
    ? normalize(resizeU8Pil(grey, height, width, 1, h, w), h, w, 1, cfg)
    : preprocess(new ResizeLongestSide(cfg.imgSize).applyImage(image, height, width, 3).data, h, w, cfg);
  return { preprocessed, inputSize: [h, w], originalSize: [height, width] };
}

// ---------------------------------------------------------------------------------------------------------
// Sam.postprocess_masks

interface AxisInterp {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

/**
 * PyTorch's linear source indices/weights (align_corners=False). Its CPU kernel rounds the scale to float32
 * but computes the source index in double; the weights are stored as float32. (Matching this, rather than
 * all-float32 arithmetic, reproduces the fixture's first interpolation bit for bit.)
 */
function axisInterp(inSize: number, outSize: number): AxisInterp {
  const key = inSize * 65536 + outSize;
  const hit = AXIS_INTERP_CACHE.get(key);
  if (hit) return hit;
  const r: AxisInterp = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    l0: new Float32Array(outSize),
    l1: new Float32Array(outSize),
  };
  const scale = Math.fround(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (inSize === outSize) {
      r.i0[d] = d;
      r.i1[d] = d;
      r.l0[d] = 1;
      r.l1[d] = 0;
      continue;
    }
    const src = Math.max(scale * (d + 0.5) - 0.5, 0);
    const i0 = Math.trunc(src);
    r.i0[d] = i0;
    r.i1[d] = i0 < inSize - 1 ? i0 + 1 : i0;
    r.l1[d] = Math.min(Math.max(src - i0, 0), 1);
    r.l0[d] = 1 - r.l1[d];
  }
  if (AXIS_INTERP_CACHE.size >= 64) AXIS_INTERP_CACHE.clear();
  AXIS_INTERP_CACHE.set(key, r);
  return r;
}

/**
 * axisInterp tables by (in, out) size: serve asks for the same few on every request (64 → 256, then the
 * crop → original size of each image size it sees). Read-only once made; cleared when it holds 64.
 */
const AXIS_INTERP_CACHE = new Map<number, AxisInterp>();

/**
 * One source row interpolated along x, in double (as resizePlanes's inner sum): dst[x] = row[c0]·w0 + row[c1]·w1.
 */
function interpolateRow(src: Float32Array, off: number, ax: AxisInterp, dst: Float64Array): void {
  const { i0, i1, l0, l1 } = ax;
  for (let x = 0; x < dst.length; x++) dst[x] = src[off + i0[x]] * l0[x] + src[off + i1[x]] * l1[x];
}

/**
 * Bilinear resize (F.interpolate mode='bilinear', align_corners=False, no antialias) of `planes` row-major
 * planes, reading a [cropH, cropW] top-left window of each [inH, inW] plane. Accumulates in double and
 * rounds once, which matches PyTorch's output to within 2 ulp (bit for bit on the fixture's 64→256 step).
 *
 * Each output is (top·h0 + bot·h1) with top and bot the two source rows' x-interpolations in double; a source
 * row's x-interpolation is the same for every output row that reads it, so it is computed once and kept (the
 * two rows in use), which gives the same doubles as computing it per output pixel. With `binary`, each output
 * plane's mask (float32 logit > threshold, 0/1) is written in the same pass.
 */
function resizePlanes(
  src: Float32Array,
  planes: number,
  inH: number,
  inW: number,
  cropH: number,
  cropW: number,
  outH: number,
  outW: number,
  binary?: { planes: Uint8Array[]; threshold: number },
): Float32Array {
  const out = new Float32Array(planes * outH * outW);
  if (cropH === outH && cropW === outW) {
    // Same size: every output is one input value times weight 1 (plus its neighbour times 0), so a copy of
    // the window gives the same floats. postprocessMasks's second step is this whenever the image is already
    // imgSize² (casam-tiny at 256 px): serve and segment run it on every request.
    for (let p = 0; p < planes; p++)
      for (let y = 0; y < outH; y++) {
        const from = p * inH * inW + y * inW;
        out.set(src.subarray(from, from + outW), p * outH * outW + y * outW);
      }
    if (binary)
      for (let p = 0; p < planes; p++)
        binary.planes.push(thresholdPlane(out, p * outH * outW, outH * outW, binary.threshold));
    return out;
  }
  const ay = axisInterp(cropH, outH);
  const ax = axisInterp(cropW, outW);
  // The x-interpolated source rows in use: rowA holds source row `ra`, rowB row `rb` (−1: none yet).
  let rowA = new Float64Array(outW);
  let rowB = new Float64Array(outW);
  const threshold = binary ? binary.threshold : 0;
  for (let p = 0; p < planes; p++) {
    const base = p * inH * inW;
    const obase = p * outH * outW;
    const mask = binary ? new Uint8Array(outH * outW) : null;
    let ra = -1;
    let rb = -1;
    for (let y = 0; y < outH; y++) {
      const y0 = ay.i0[y];
      const y1 = ay.i1[y];
      // Source rows only move forward with y: reuse what is kept, swapping the buffers rather than copying.
      if (ra !== y0) {
        if (rb === y0) {
          const t = rowA;
          rowA = rowB;
          rowB = t;
          rb = ra;
        } else interpolateRow(src, base + y0 * inW, ax, rowA);
        ra = y0;
      }
      if (rb !== y1) {
        interpolateRow(src, base + y1 * inW, ax, rowB);
        rb = y1;
      }
      const h0 = ay.l0[y];
      const h1 = ay.l1[y];
      const o = obase + y * outW;
      if (mask) {
        const m = y * outW;
        for (let x = 0; x < outW; x++) {
          const v = Math.fround(rowA[x] * h0 + rowB[x] * h1);
          out[o + x] = v;
          mask[m + x] = v > threshold ? 1 : 0;
        }
      } else for (let x = 0; x < outW; x++) out[o + x] = rowA[x] * h0 + rowB[x] * h1;
    }
    if (mask) binary!.planes.push(mask);
  }
  return out;
}

/** 0/1 mask of one plane: value > threshold (false for NaN). */
function thresholdPlane(data: Float32Array, off: number, n: number, threshold: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let j = 0; j < n; j++) b[j] = data[off + j] > threshold ? 1 : 0;
  return b;
}

function checkPostprocess(shape: number[], inputSize: Size, originalSize: Size, imgSize: number): void {
  if (shape.length !== 4) throw new Error(`postprocessMasks: expected NCHW masks, got [${shape}]`);
  const [h, w] = inputSize;
  if (h > imgSize || w > imgSize || h < 1 || w < 1)
    throw new Error(`postprocessMasks: input size ${h}x${w} does not fit ${imgSize}x${imgSize}`);
  if (originalSize[0] < 1 || originalSize[1] < 1)
    throw new Error(`postprocessMasks: bad original size ${originalSize}`);
}

/**
 * Sam.postprocess_masks: low-res logits NCHW [N,K,h',w'] → bilinear to imgSize², crop to inputSize, bilinear
 * to originalSize → [N,K,H,W] logits (threshold > 0 for binary masks).
 */
export function postprocessMasks(
  lowRes: HostTensor,
  inputSize: Size,
  originalSize: Size,
  imgSize: number,
): HostTensor {
  return postprocess(lowRes, inputSize, originalSize, imgSize);
}

/**
 * postprocessMasks and the binary masks (logit > threshold, one 0/1 plane of H·W per N·K plane) in one pass:
 * the same logits, and the same masks as thresholding them afterwards.
 */
export function postprocessMasksAndBinary(
  lowRes: HostTensor,
  inputSize: Size,
  originalSize: Size,
  imgSize: number,
  threshold: number,
): { masks: HostTensor; binary: Uint8Array[] } {
  const binary = { planes: [] as Uint8Array[], threshold };
  const masks = postprocess(lowRes, inputSize, originalSize, imgSize, binary);
  return { masks, binary: binary.planes };
}

function postprocess(
  lowRes: HostTensor,
  inputSize: Size,
  originalSize: Size,
  imgSize: number,
  binary?: { planes: Uint8Array[]; threshold: number },
): HostTensor {
  checkPostprocess(lowRes.shape, inputSize, originalSize, imgSize);
  const [n, k, lh, lw] = lowRes.shape;
  const planes = n * k;
  const [oh, ow] = originalSize;
  // An image already imgSize² (casam-tiny at 256 px, every serve request of the benchmark): the second step is
  // the identity, so `up` is the answer as it is, without a copy, and its masks are made in the first step.
  const identity = inputSize[0] === imgSize && inputSize[1] === imgSize && oh === imgSize && ow === imgSize;
  const up = resizePlanes(
    toFloat32(lowRes),
    planes,
    lh,
    lw,
    lh,
    lw,
    imgSize,
    imgSize,
    identity ? binary : undefined,
  );
  const out = identity
    ? up
    : resizePlanes(up, planes, imgSize, imgSize, inputSize[0], inputSize[1], oh, ow, binary);
  return float32Tensor([n, k, oh, ow], out);
}

/** The first step of postprocessMasks alone (bilinear to imgSize², before the crop), for checks. */
export function upscaleMasks(lowRes: HostTensor, imgSize: number): HostTensor {
  const [n, k, lh, lw] = lowRes.shape;
  return float32Tensor(
    [n, k, imgSize, imgSize],
    resizePlanes(toFloat32(lowRes), n * k, lh, lw, lh, lw, imgSize, imgSize),
  );
}

/**
 * The whole postprocess along one axis as one [out, low] matrix (float64): bilinear low → imgSize, keep the
 * first `crop` rows, bilinear crop → out. Both steps are linear, so their product is exact up to rounding.
 */
function pipelineMatrix(low: number, imgSize: number, crop: number, out: number): Float32Array {
  const a = axisInterp(low, imgSize); // imgSize × low
  const b = axisInterp(crop, out); // out × crop
  const m = new Float64Array(out * low);
  for (let o = 0; o < out; o++)
    for (const [r, wr] of [
      [b.i0[o], b.l0[o]],
      [b.i1[o], b.l1[o]],
    ]) {
      if (wr === 0) continue;
      m[o * low + a.i0[r]] += wr * a.l0[r];
      m[o * low + a.i1[r]] += wr * a.l1[r];
    }
  return Float32Array.from(m);
}

/**
 * postprocessMasks in TensorFlow.js for training: differentiable, NCHW in and out, the caller owns the
 * result. Implemented as two matMuls with per-axis interpolation matrices (width, then height, as PyTorch
 * does) because tf.image.resizeBilinear's gradient ignores halfPixelCenters in TF.js 4.22 (it back-propagates
 * the legacy corner-aligned sampling), so it would train against the wrong map.
 */
export function postprocessMasksTf(
  lowRes: tf.Tensor4D,
  inputSize: Size,
  originalSize: Size,
  imgSize: number,
): tf.Tensor4D {
  checkPostprocess(lowRes.shape, inputSize, originalSize, imgSize);
  const [n, k, lh, lw] = lowRes.shape;
  const [oh, ow] = originalSize;
  const my = pipelineMatrix(lh, imgSize, inputSize[0], oh); // [oh, lh]
  const mx = pipelineMatrix(lw, imgSize, inputSize[1], ow); // [ow, lw]
  return tf.tidy(() => {
    const p = n * k;
    // Width: [P·lh, lw] · Mxᵀ → [P·lh, ow].
    const w = tf.matMul(tf.reshape(lowRes, [p * lh, lw]), tf.tensor2d(mx, [ow, lw]), false, true);
    // Height: My · [lh, P·ow] → [oh, P·ow].
    const cols = tf.reshape(tf.transpose(tf.reshape(w, [p, lh, ow]), [1, 0, 2]), [lh, p * ow]);
    const h = tf.matMul(tf.tensor2d(my, [oh, lh]), cols);
    return tf.reshape(tf.transpose(tf.reshape(h, [oh, p, ow]), [1, 0, 2]), [n, k, oh, ow]) as tf.Tensor4D;
  });
}
