/**
 * Segmentation metrics on host arrays (plain TypeScript, float64 arithmetic).
 *
 * P = logits > 0 (strictly: a logit of exactly 0 is background), G = target > 0.5.
 *   IoU  = (|P∩G| + 1e-7) / (|P∪G| + 1e-7)        Dice = (2|P∩G| + 1e-7) / (|P| + |G| + 1e-7)
 * so an empty prediction of an empty target scores 1, and a miss scores ≈ 0.
 *
 * Boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021): the boundary band of a mask M is the set of its pixels
 * within chessboard distance d of the background, M ∖ erode(M, (2d+1)×(2d+1) square), where everything outside
 * the image counts as background (the reference zero-pads by one pixel and erodes d times with a 3×3 kernel,
 * which is the same set). d = max(1, round(0.02 · √(H² + W²))), round half to even as Python's round.
 * Boundary IoU = (|Pb∩Gb| + 1e-7) / (|Pb∪Gb| + 1e-7) (the reference has no eps; two empty bands give 1 here).
 *
 * Dataset numbers are "mean over regions, then over images": each image's regions are averaged first.
 */

export const METRIC_EPS = 1e-7;
/** Boundary band width as a fraction of the image diagonal (the Boundary IoU paper's setting). */
export const BOUNDARY_DILATION_RATIO = 0.02;

export class MetricsInputError extends Error {
  override name = 'MetricsInputError';
}

export interface MaskMetrics {
  intersection: number;
  predArea: number;
  targetArea: number;
  union: number;
  iou: number;
  dice: number;
}

function ratio(num: number, den: number): number {
  return (num + METRIC_EPS) / (den + METRIC_EPS);
}

/** Metrics of one mask: `logits` and `target` hold the same pixels in the same order. */
export function maskMetrics(logits: ArrayLike<number>, target: ArrayLike<number>): MaskMetrics {
  if (logits.length !== target.length)
    throw new MetricsInputError(`prediction has ${logits.length} pixels, target ${target.length}`);
  let inter = 0;
  let pa = 0;
  let ta = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = logits[i] > 0;
    const g = target[i] > 0.5;
    if (p) pa++;
    if (g) ta++;
    if (p && g) inter++;
  }
  const union = pa + ta - inter;
  return {
    intersection: inter,
    predArea: pa,
    targetArea: ta,
    union,
    iou: ratio(inter, union),
    dice: ratio(2 * inter, pa + ta),
  };
}

/** Metrics of N masks stored one after another ([N, ...pixels], e.g. NCHW with C = 1). */
export function maskMetricsBatch(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  numMasks: number,
): MaskMetrics[] {
  if (!Number.isInteger(numMasks) || numMasks < 1)
    throw new MetricsInputError(`numMasks must be a positive integer, got ${numMasks}`);
  if (logits.length !== target.length)
    throw new MetricsInputError(`prediction has ${logits.length} values, target ${target.length}`);
  if (logits.length % numMasks !== 0)
    throw new MetricsInputError(`${logits.length} values do not split into ${numMasks} masks`);
  const per = logits.length / numMasks;
  const sub = (a: ArrayLike<number>, k: number): ArrayLike<number> =>
    ArrayBuffer.isView(a)
      ? (a as unknown as Float32Array).subarray(k * per, (k + 1) * per)
      : Array.prototype.slice.call(a, k * per, (k + 1) * per);
  return Array.from({ length: numMasks }, (_, k) => maskMetrics(sub(logits, k), sub(target, k)));
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Band width d for an H×W image. */
export function boundaryWidth(
  height: number,
  width: number,
  dilationRatio = BOUNDARY_DILATION_RATIO,
): number {
  return Math.max(1, roundHalfEven(dilationRatio * Math.sqrt(height * height + width * width)));
}

function checkDims(n: number, height: number, width: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1)
    throw new MetricsInputError(`image size must be positive integers, got ${height}×${width}`);
  if (n !== height * width)
    throw new MetricsInputError(`mask has ${n} pixels, ${height}×${width} needs ${height * width}`);
}

/** 1 where the pixel survives erosion by a (2d+1)² square with a background border, along one axis. */
function erodeLine(
  src: Uint8Array,
  dst: Uint8Array,
  start: number,
  stride: number,
  len: number,
  d: number,
): void {
  // prefix[i] = ones among the first i pixels of the line
  const prefix = new Int32Array(len + 1);
  for (let i = 0; i < len; i++) prefix[i + 1] = prefix[i] + src[start + i * stride];
  for (let i = 0; i < len; i++) {
    const lo = i - d;
    const hi = i + d;
    dst[start + i * stride] = lo >= 0 && hi < len && prefix[hi + 1] - prefix[lo] === 2 * d + 1 ? 1 : 0;
  }
}

/** The boundary band (1/0, row-major) of a binary mask. */
export function boundaryBand(mask: Uint8Array, height: number, width: number, d: number): Uint8Array {
  checkDims(mask.length, height, width);
  if (!Number.isInteger(d) || d < 1)
    throw new MetricsInputError(`band width must be a positive integer, got ${d}`);
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) erodeLine(mask, rows, y * width, 1, width, d);
  const eroded = new Uint8Array(mask.length);
  for (let x = 0; x < width; x++) erodeLine(rows, eroded, x, width, height, d);
  const band = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) band[i] = mask[i] && !eroded[i] ? 1 : 0;
  return band;
}

/** Boundary IoU of one H×W mask (row-major) with P = logits > 0 and G = target > 0.5. */
export function boundaryIou(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  height: number,
  width: number,
  dilationRatio = BOUNDARY_DILATION_RATIO,
): number {
  checkDims(logits.length, height, width);
  checkDims(target.length, height, width);
  const p = new Uint8Array(logits.length);
  const g = new Uint8Array(target.length);
  for (let i = 0; i < p.length; i++) {
    p[i] = logits[i] > 0 ? 1 : 0;
    g[i] = target[i] > 0.5 ? 1 : 0;
  }
  const d = boundaryWidth(height, width, dilationRatio);
  const pb = boundaryBand(p, height, width, d);
  const gb = boundaryBand(g, height, width, d);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < pb.length; i++) {
    if (pb[i] && gb[i]) inter++;
    if (pb[i] || gb[i]) union++;
  }
  return ratio(inter, union);
}

/** One region's scores (one ground-truth region of one image). */
export interface RegionMetrics {
  iou: number;
  dice: number;
  boundaryIou?: number;
}

export interface AggregateMetrics {
  iou: number;
  dice: number;
  /** Present when every region has it. */
  boundaryIou?: number;
  /** Images with at least one region (images without regions do not count). */
  images: number;
  regions: number;
}

/** Mean over each image's regions, then over images. Throws when there is no region at all. */
export function aggregateMetrics(images: readonly (readonly RegionMetrics[])[]): AggregateMetrics {
  let n = 0;
  let regions = 0;
  let iou = 0;
  let dice = 0;
  let biou = 0;
  let allBoundary = true;
  for (const regs of images) {
    if (regs.length === 0) continue;
    let i = 0;
    let d = 0;
    let b = 0;
    for (const r of regs) {
      if (!Number.isFinite(r.iou) || !Number.isFinite(r.dice))
        throw new MetricsInputError(`region metrics must be finite, got iou ${r.iou}, dice ${r.dice}`);
      i += r.iou;
      d += r.dice;
      if (r.boundaryIou === undefined) allBoundary = false;
      else b += r.boundaryIou;
    }
    iou += i / regs.length;
    dice += d / regs.length;
    biou += b / regs.length;
    regions += regs.length;
    n++;
  }
  if (n === 0) throw new MetricsInputError('no regions to aggregate');
  const out: AggregateMetrics = { iou: iou / n, dice: dice / n, images: n, regions };
  if (allBoundary) out.boundaryIou = biou / n;
  return out;
}
