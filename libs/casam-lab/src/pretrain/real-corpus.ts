/**
 * Real image content for pretraining: crops of real images (MRI/CT slices, microscopy, fundus, histology and
 * natural photographs from Debian packages, see scripts/prepare-real-corpus.ts) with targets drawn from the
 * image itself, as SAM's fully automatic data stage did: the crop is smoothed, its intensities are quantised
 * into k levels (1-D k-means on the histogram, k drawn per sample) and each connected region of a level that is
 * neither a speck nor most of the image is a target. The generic synthetic corpus teaches shapes; this teaches
 * real edges, real textures and real noise, which a frozen encoder must handle to beat filling the box.
 *
 * Sources that carry label masks (none of the pretraining sources do today) would give their own targets.
 * Everything is a pure function of (seed, index), like the generic corpus.
 */
import { SeededRng, mixSeed } from '@casam/casam-core';
import { Box, CorpusSample, MIN_TARGET_AREA, drawTargets, maskBox } from './generic-corpus';

/** Bumped whenever the samples drawn for a (seed, index) change; part of the corpus name a checkpoint keeps. */
export const REAL_CORPUS_VERSION = 2;

/** One real image, 8-bit, grey (channels 1) or RGB (channels 3), row-major HWC. */
export interface RealImage {
  id: string;
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export interface RealCorpusOptions {
  seed: number;
  images: readonly RealImage[];
  size?: number;
  targetsPerImage?: number;
  boxProbability?: number;
  /** Evaluation prompts: tight boxes without jitter. */
  evaluation?: boolean;
}

export interface RealCorpus {
  readonly seed: number;
  readonly size: number;
  sample(index: number): CorpusSample;
}

/** Bilinear crop-and-resize of a window [x0, x0+w)×[y0, y0+h) of `img` to size×size RGB, with flips. */
function cropResize(
  img: RealImage,
  x0: number,
  y0: number,
  w: number,
  h: number,
  size: number,
  flipX: boolean,
  transpose: boolean,
): Uint8Array {
  // Source taps and weights per output coordinate, computed once (this runs for every training image).
  const taps = (
    start: number,
    len: number,
    limit: number,
  ): { i0: Int32Array; i1: Int32Array; t: Float32Array } => {
    const i0 = new Int32Array(size);
    const i1 = new Int32Array(size);
    const t = new Float32Array(size);
    for (let o = 0; o < size; o++) {
      const v = Math.min(Math.max(start + ((o + 0.5) * len) / size - 0.5, 0), limit - 1);
      i0[o] = Math.floor(v);
      i1[o] = Math.min(i0[o] + 1, limit - 1);
      t[o] = v - i0[o];
    }
    return { i0, i1, t };
  };
  const xs = taps(x0, w, img.width);
  const ys = taps(y0, h, img.height);
  const out = new Uint8Array(size * size * 3);
  const c = img.channels;
  const d = img.data;
  const rowStride = img.width * c;
  for (let oy = 0; oy < size; oy++)
    for (let ox = 0; ox < size; ox++) {
      let u = transpose ? oy : ox;
      const v = transpose ? ox : oy;
      if (flipX) u = size - 1 - u;
      const a = ys.i0[v] * rowStride;
      const b = ys.i1[v] * rowStride;
      const p0 = xs.i0[u] * c;
      const p1 = xs.i1[u] * c;
      const tx = xs.t[u];
      const ty = ys.t[v];
      const w00 = (1 - tx) * (1 - ty);
      const w01 = tx * (1 - ty);
      const w10 = (1 - tx) * ty;
      const w11 = tx * ty;
      const o = (oy * size + ox) * 3;
      for (let k = 0; k < 3; k++) {
        const ch = c === 1 ? 0 : k;
        out[o + k] = Math.round(
          w00 * d[a + p0 + ch] + w01 * d[a + p1 + ch] + w10 * d[b + p0 + ch] + w11 * d[b + p1 + ch],
        );
      }
    }
  return out;
}

/** Luminance of an RGB image as floats. */
function luminance(rgb: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
  return y;
}

/** Separable box blur of radius r (edges clamped), `passes` times (≈ Gaussian). */
export function boxBlur(src: Float32Array, size: number, r: number, passes: number): Float32Array {
  let a = Float32Array.from(src);
  let b = new Float32Array(a.length);
  const norm = 1 / (2 * r + 1);
  // One pass along lines of `size` values starting at `base`, `step` apart.
  const line = (from: Float32Array, to: Float32Array, base: number, step: number): void => {
    let acc = 0;
    for (let i = -r; i <= r; i++) acc += from[base + Math.min(Math.max(i, 0), size - 1) * step];
    for (let i = 0; i < size; i++) {
      to[base + i * step] = acc * norm;
      acc += from[base + Math.min(i + r + 1, size - 1) * step] - from[base + Math.max(i - r, 0) * step];
    }
  };
  for (let p = 0; p < passes; p++) {
    for (let y = 0; y < size; y++) line(a, b, y * size, 1);
    [a, b] = [b, a];
    for (let x = 0; x < size; x++) line(a, b, x, size);
    [a, b] = [b, a];
  }
  return a;
}

/** 1-D k-means on a 256-bin histogram; returns k−1 sorted thresholds between the centres. */
export function histogramThresholds(values: Float32Array, k: number, rng: SeededRng): number[] {
  const hist = new Float64Array(256);
  for (const v of values) hist[Math.min(255, Math.max(0, Math.round(v)))]++;
  let lo = 0;
  let hi = 255;
  while (lo < 255 && hist[lo] === 0) lo++;
  while (hi > 0 && hist[hi] === 0) hi--;
  if (hi <= lo) return [];
  let centres = Array.from(
    { length: k },
    (_, i) => lo + ((hi - lo) * (i + 0.5 + 0.3 * (rng.next() - 0.5))) / k,
  );
  for (let it = 0; it < 20; it++) {
    const sum = new Float64Array(k);
    const cnt = new Float64Array(k);
    for (let v = lo; v <= hi; v++) {
      if (!hist[v]) continue;
      let best = 0;
      for (let j = 1; j < k; j++) if (Math.abs(v - centres[j]) < Math.abs(v - centres[best])) best = j;
      sum[best] += v * hist[v];
      cnt[best] += hist[v];
    }
    centres = centres.map((c, j) => (cnt[j] ? sum[j] / cnt[j] : c));
    centres.sort((x, y) => x - y);
  }
  const t: number[] = [];
  for (let j = 1; j < k; j++) if (centres[j] - centres[j - 1] > 4) t.push((centres[j] + centres[j - 1]) / 2);
  return t;
}

/** 4-connected components of equal labels; returns the component id per pixel and each component's size. */
export function connectedComponents(labels: Uint8Array, size: number): { comp: Int32Array; sizes: number[] } {
  const comp = new Int32Array(size * size).fill(-1);
  const sizes: number[] = [];
  const stack = new Int32Array(size * size);
  for (let s = 0; s < comp.length; s++) {
    if (comp[s] >= 0) continue;
    const id = sizes.length;
    const lab = labels[s];
    let top = 0;
    stack[top++] = s;
    comp[s] = id;
    let n = 0;
    while (top > 0) {
      const p = stack[--top];
      n++;
      const x = p % size;
      // Plain branches, no closure: this runs for every pixel of every training image.
      if (x > 0 && comp[p - 1] < 0 && labels[p - 1] === lab) {
        comp[p - 1] = id;
        stack[top++] = p - 1;
      }
      if (x < size - 1 && comp[p + 1] < 0 && labels[p + 1] === lab) {
        comp[p + 1] = id;
        stack[top++] = p + 1;
      }
      if (p >= size && comp[p - size] < 0 && labels[p - size] === lab) {
        comp[p - size] = id;
        stack[top++] = p - size;
      }
      if (p + size < comp.length && comp[p + size] < 0 && labels[p + size] === lab) {
        comp[p + size] = id;
        stack[top++] = p + size;
      }
    }
    sizes.push(n);
  }
  return { comp, sizes };
}

/**
 * Region targets of one crop: components of the quantised, smoothed luminance, at most `want` of them (drawn
 * at random among those of a usable size; masks are built only for those).
 */
function regionTargets(
  rgb: Uint8Array,
  size: number,
  rng: SeededRng,
  want: number,
): { mask: Uint8Array; area: number; bbox: Box }[] {
  const n = size * size;
  const smooth = boxBlur(luminance(rgb, n), size, rng.int(1, 3), 2);
  const thresholds = histogramThresholds(smooth, rng.int(2, 6), rng);
  if (thresholds.length === 0) return [];
  const levels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let l = 0;
    while (l < thresholds.length && smooth[i] > thresholds[l]) l++;
    levels[i] = l;
  }
  const { comp, sizes } = connectedComponents(levels, size);
  const maxArea = 0.5 * n;
  const usable: number[] = [];
  sizes.forEach((area, id) => {
    if (area >= MIN_TARGET_AREA * 2 && area <= maxArea) usable.push(id);
  });
  for (let i = usable.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [usable[i], usable[j]] = [usable[j], usable[i]];
  }
  const picked = usable.slice(0, want);
  const masks = picked.map(() => new Uint8Array(n));
  const slot = new Int32Array(sizes.length).fill(-1);
  picked.forEach((id, k) => (slot[id] = k));
  for (let i = 0; i < n; i++) {
    const k = slot[comp[i]];
    if (k >= 0) masks[k][i] = 1;
  }
  return picked.map((id, k) => ({ mask: masks[k], area: sizes[id], bbox: maskBox(masks[k], size).bbox }));
}

/** Contrast, gamma and noise jitter, in place. */
function jitterIntensity(rgb: Uint8Array, rng: SeededRng): void {
  const gamma = Math.exp(rng.uniform(-0.35, 0.35));
  const gain = rng.uniform(0.8, 1.2);
  const bias = rng.uniform(-20, 20);
  const noise = rng.chance(0.5) ? rng.uniform(0, 8) : 0;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = 255 * Math.pow(v / 255, gamma) * gain + bias;
  for (let i = 0; i < rgb.length; i++) {
    let v = lut[rgb[i]];
    if (noise) v += noise * rng.normal();
    rgb[i] = Math.max(0, Math.min(255, Math.round(v)));
  }
}

export function createRealCorpus(opts: RealCorpusOptions): RealCorpus {
  const size = opts.size ?? 256;
  const perImage = opts.targetsPerImage ?? 4;
  const boxP = opts.boxProbability ?? 0.5;
  if (opts.images.length === 0) throw new Error('the real corpus needs at least one image');
  for (const im of opts.images)
    if (im.data.length !== im.width * im.height * im.channels || im.width < 32 || im.height < 32)
      throw new Error(
        `real image ${im.id}: ${im.width}×${im.height}×${im.channels} does not fit its data or is < 32 px`,
      );
  const seed = opts.seed >>> 0;

  function sample(index: number): CorpusSample {
    if (!Number.isInteger(index) || index < 0)
      throw new Error(`sample index must be an integer ≥ 0, got ${index}`);
    const rng = new SeededRng(mixSeed(seed, index, 0x7ea1));
    for (;;) {
      const img = rng.pick(opts.images);
      // A square crop of 45–100% of the shorter side, anywhere in the image.
      const side = Math.min(img.width, img.height) * rng.uniform(0.45, 1);
      const x0 = rng.uniform(0, img.width - side);
      const y0 = rng.uniform(0, img.height - side);
      const image = cropResize(img, x0, y0, side, side, size, rng.chance(0.5), rng.chance(0.25));
      const candidates = regionTargets(image, size, rng, perImage);
      if (candidates.length === 0) continue;
      jitterIntensity(image, rng);
      const regions = candidates.map((c) => ({ ...c, shape: 'real-region' as const }));
      const targets = drawTargets(rng, regions, { perImage, size, boxP, evaluation: opts.evaluation });
      return { index, size, image, targets };
    }
  }
  return { seed, size, sample };
}

/** Draws each sample from `real` with probability `realFraction`, else from `generic` (same index). */
export function mixCorpora(
  seed: number,
  generic: { sample(i: number): CorpusSample },
  real: { sample(i: number): CorpusSample },
  realFraction: number,
): { sample(i: number): CorpusSample } {
  if (!(realFraction >= 0 && realFraction <= 1))
    throw new Error(`realFraction must be in [0, 1], got ${realFraction}`);
  return {
    sample: (i: number) =>
      (new SeededRng(mixSeed(seed, i, 0x313)).chance(realFraction) ? real : generic).sample(i),
  };
}
