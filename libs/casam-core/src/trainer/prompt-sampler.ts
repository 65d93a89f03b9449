/**
 * Prompts derived from ground-truth masks, as CA-SAM trains: per batch a seeded coin picks box-only prompts
 * (the tight box of each mask, each side jittered by a few pixels) or points-only prompts (1..maxPoints positive
 * points drawn uniformly from each mask's pixels; one count per batch, so the batch's prompt tensors are
 * rectangular without padding tokens). Coordinates are made in original image pixels (x = column, y = row,
 * box corners on the extreme pixels as SAM's `batched_mask_to_box`), then mapped to the model frame with
 * ResizeLongestSide exactly as the predictor maps user prompts. Masks are mapped to the model's padded input
 * frame (imgSize × imgSize, image top-left, zeros in the padding) for the loss.
 *
 * Plain TypeScript: every function takes its rng, so the trainer derives one stream per batch and a resumed
 * run draws the same prompts as an uninterrupted one.
 */
import type { Rng } from '../random/seeded-random';
import { ResizeLongestSide, Size, resizeU8Pil } from '../sam/transforms';
import { TrainerInputError } from './trainer-errors';

/** (x0, y0, x1, y1). */
export type PromptBox = [number, number, number, number];
/** (x, y). */
export type PromptPoint = [number, number];

export interface BoxJitterOptions {
  /** Largest shift of each side, as a fraction of the box's extent along that side's axis. */
  fraction: number;
  /** Cap on that shift in original pixels. */
  maxPixels: number;
}

/** Up to 5% of the box's extent per side, at most 10 px: "a few pixels" on objects of 20–200 px. */
export const DEFAULT_BOX_JITTER: Readonly<BoxJitterOptions> = Object.freeze({
  fraction: 0.05,
  maxPixels: 10,
});
export const DEFAULT_MAX_POINTS = 3;
/** The spec's 50% box-only / 50% points-only batches. */
export const DEFAULT_BOX_PROBABILITY = 0.5;

export interface PromptSamplerOptions {
  boxJitter?: Partial<BoxJitterOptions>;
  /** Points per prompt are drawn uniformly from 1..maxPoints, once per batch. */
  maxPoints?: number;
  /** Probability that a batch gets box prompts (else point prompts). */
  boxProbability?: number;
}

export interface ResolvedPromptSamplerOptions {
  boxJitter: BoxJitterOptions;
  maxPoints: number;
  boxProbability: number;
}

export function resolvePromptSamplerOptions(o: PromptSamplerOptions = {}): ResolvedPromptSamplerOptions {
  const boxJitter = { ...DEFAULT_BOX_JITTER, ...o.boxJitter };
  if (!(boxJitter.fraction >= 0 && boxJitter.fraction <= 1))
    throw new TrainerInputError(`boxJitter.fraction must lie in [0, 1], got ${boxJitter.fraction}`);
  if (!(boxJitter.maxPixels >= 0) || !Number.isFinite(boxJitter.maxPixels))
    throw new TrainerInputError(`boxJitter.maxPixels must be ≥ 0, got ${boxJitter.maxPixels}`);
  const maxPoints = o.maxPoints ?? DEFAULT_MAX_POINTS;
  if (!Number.isInteger(maxPoints) || maxPoints < 1 || maxPoints > 64)
    throw new TrainerInputError(`maxPoints must be an integer in 1..64, got ${maxPoints}`);
  const boxProbability = o.boxProbability ?? DEFAULT_BOX_PROBABILITY;
  if (!(boxProbability >= 0 && boxProbability <= 1))
    throw new TrainerInputError(`boxProbability must lie in [0, 1], got ${boxProbability}`);
  return { boxJitter, maxPoints, boxProbability };
}

/** A binary mask (any non-zero = foreground), row-major, at its image's size. */
export interface MaskRef {
  mask: Uint8Array;
  width: number;
  height: number;
}

function checkMask({ mask, width, height }: MaskRef): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new TrainerInputError(`mask size must be positive integers, got ${width}×${height}`);
  if (mask.length !== width * height)
    throw new TrainerInputError(`mask has ${mask.length} values, ${width}×${height} needs ${width * height}`);
}

/** Foreground pixel count. */
export function maskArea(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}

/** Tight box on the extreme foreground pixels (inclusive indices), or null for an empty mask. */
export function maskBoundingBox(m: MaskRef): PromptBox | null {
  checkMask(m);
  const { mask, width, height } = m;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++)
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/** The largest shift of a side along an axis whose box extent is `extent` pixels. */
export function jitterBound(extent: number, jitter: BoxJitterOptions): number {
  return Math.min(jitter.maxPixels, jitter.fraction * extent);
}

/**
 * Each side moved independently by a uniform amount in ±jitterBound, then clamped to the image. Sides that cross
 * (tiny boxes) meet at their midpoint, which stays within the bound of both.
 */
export function jitterBox(
  box: PromptBox,
  width: number,
  height: number,
  rng: Rng,
  jitter: BoxJitterOptions,
): PromptBox {
  const [x0, y0, x1, y1] = box;
  const bx = jitterBound(x1 - x0 + 1, jitter);
  const by = jitterBound(y1 - y0 + 1, jitter);
  const shift = (b: number): number => b * (2 * rng() - 1);
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  let nx0 = clamp(x0 + shift(bx), width - 1);
  let ny0 = clamp(y0 + shift(by), height - 1);
  let nx1 = clamp(x1 + shift(bx), width - 1);
  let ny1 = clamp(y1 + shift(by), height - 1);
  if (nx1 < nx0) nx0 = nx1 = (nx0 + nx1) / 2;
  if (ny1 < ny0) ny0 = ny1 = (ny0 + ny1) / 2;
  return [nx0, ny0, nx1, ny1];
}

/** `n` foreground pixels (x, y), uniformly, distinct while the mask has enough pixels. Throws on an empty mask. */
export function samplePointsInMask(m: MaskRef, n: number, rng: Rng): PromptPoint[] {
  checkMask(m);
  const { mask, width } = m;
  const fg: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) fg.push(i);
  if (fg.length === 0) throw new TrainerInputError('cannot sample points from an empty mask');
  const picked = new Set<number>();
  const out: PromptPoint[] = [];
  while (out.length < n) {
    const i = fg[Math.floor(rng() * fg.length)];
    if (picked.has(i) && picked.size < fg.length) continue;
    picked.add(i);
    out.push([i % width, Math.floor(i / width)]);
  }
  return out;
}

/** One region's prompt in ORIGINAL image pixels. */
export type SampledPrompt = { kind: 'box'; box: PromptBox } | { kind: 'points'; points: PromptPoint[] };

export interface PromptBatch {
  kind: 'box' | 'points';
  /** Points per prompt (0 for boxes). */
  pointsPerPrompt: number;
  /** One per region, in the order given. */
  prompts: SampledPrompt[];
}

/** Prompts for a batch of regions: one coin for the batch, then one box or one point set per region. */
export function samplePromptBatch(
  regions: readonly MaskRef[],
  rng: Rng,
  opts: ResolvedPromptSamplerOptions,
): PromptBatch {
  if (regions.length === 0) throw new TrainerInputError('no regions to prompt');
  const kind = rng() < opts.boxProbability ? 'box' : 'points';
  if (kind === 'box') {
    const prompts: SampledPrompt[] = regions.map((r) => {
      const box = maskBoundingBox(r);
      if (!box) throw new TrainerInputError('cannot make a box from an empty mask');
      return { kind: 'box', box: jitterBox(box, r.width, r.height, rng, opts.boxJitter) };
    });
    return { kind, pointsPerPrompt: 0, prompts };
  }
  const n = 1 + Math.floor(rng() * opts.maxPoints);
  return {
    kind,
    pointsPerPrompt: n,
    prompts: regions.map((r) => ({ kind: 'points', points: samplePointsInMask(r, n, rng) })),
  };
}

/** Model-frame prompt arrays of a batch: `boxes` [B·4] or `coords` [B·n·2] with `labels` [B·n] (all 1). */
export interface ModelFramePrompts {
  count: number;
  pointsPerPrompt: number;
  boxes?: Float32Array;
  coords?: Float32Array;
  labels?: Float32Array;
}

/** Maps each prompt from its image's original pixels to the model frame (ResizeLongestSide to imgSize). */
export function toModelFrame(
  batch: PromptBatch,
  originalSizes: readonly Size[],
  imgSize: number,
): ModelFramePrompts {
  const b = batch.prompts.length;
  if (originalSizes.length !== b)
    throw new TrainerInputError(`${b} prompts but ${originalSizes.length} image sizes`);
  const t = new ResizeLongestSide(imgSize);
  if (batch.kind === 'box') {
    const boxes = new Float32Array(b * 4);
    batch.prompts.forEach((p, i) => {
      if (p.kind !== 'box') throw new TrainerInputError('a box batch holds a point prompt');
      boxes.set(t.applyCoordsArray(p.box, originalSizes[i]), i * 4);
    });
    return { count: b, pointsPerPrompt: 0, boxes };
  }
  const n = batch.pointsPerPrompt;
  const coords = new Float32Array(b * n * 2);
  batch.prompts.forEach((p, i) => {
    if (p.kind !== 'points' || p.points.length !== n)
      throw new TrainerInputError(`every prompt of this batch needs ${n} points`);
    coords.set(t.applyCoordsArray(p.points.flat(), originalSizes[i]), i * n * 2);
  });
  return { count: b, pointsPerPrompt: n, coords, labels: new Float32Array(b * n).fill(1) };
}

/**
 * The mask in the model's padded input frame: resized like the image (PIL bilinear on 0/255, kept where ≥ 128)
 * to the ResizeLongestSide size, placed top-left in an imgSize × imgSize frame of zeros. Returns 0/1.
 */
export function maskToInputFrame(m: MaskRef, imgSize: number): Uint8Array {
  checkMask(m);
  const { mask, width, height } = m;
  const [h, w] = ResizeLongestSide.getPreprocessShape(height, width, imgSize);
  const src = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) src[i] = mask[i] ? 255 : 0;
  const resized = h === height && w === width ? src : resizeU8Pil(src, height, width, 1, h, w);
  const out = new Uint8Array(imgSize * imgSize);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) out[y * imgSize + x] = resized[y * w + x] >= 128 ? 1 : 0;
  return out;
}

/** A square 0/1 mask averaged over factor × factor blocks, kept where at least half the block is foreground. */
export function downsampleMask(mask: Uint8Array, size: number, factor: number): Uint8Array {
  if (!Number.isInteger(factor) || factor < 1 || size % factor !== 0)
    throw new TrainerInputError(`cannot downsample a ${size}² mask by ${factor}`);
  if (mask.length !== size * size)
    throw new TrainerInputError(`mask has ${mask.length} values, not ${size}²`);
  const s = size / factor;
  const out = new Uint8Array(s * s);
  const half = (factor * factor) / 2;
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++)
        for (let dx = 0; dx < factor; dx++) sum += mask[(y * factor + dy) * size + x * factor + dx] ? 1 : 0;
      out[y * s + x] = sum >= half ? 1 : 0;
    }
  return out;
}
