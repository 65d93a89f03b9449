/**
 * The held-out split of `bench:real` (real labelled volumes): pure logic, no I/O.
 *
 * A structure with two or more volumes is split by volume: the volumes sorted by id, every other one (the 2nd,
 * 4th, …) held out for testing, the rest for training — never by slice. A structure with a single volume can
 * only be split into disjoint slabs along the slice axis (weaker evidence: neighbouring anatomy of the same
 * patient, same scanner); the split says so (`weak: true`), and `gap` slices at every slab boundary belong to
 * neither side, so no test slice is within `gap` slices of a training slice.
 */

export interface RealVolume {
  /** Unique id (package:file). */
  id: string;
  /** Slices along the chosen axis. */
  slices: number;
}

/** A block of consecutive slices of one volume: [from, to). */
export interface SliceUnit {
  volume: string;
  from: number;
  to: number;
  /** Index of the slab within its volume (slab splits only). */
  slab?: number;
}

export interface StructureSplit {
  structure: string;
  /** `volume`: whole volumes on each side; `slab`: disjoint slabs of one volume (weaker evidence). */
  by: 'volume' | 'slab';
  weak: boolean;
  train: SliceUnit[];
  test: SliceUnit[];
}

export class RealSplitError extends Error {
  override name = 'RealSplitError';
}

/**
 * `slabs` contiguous blocks of n slices; every block after the first starts `gap` slices later, so consecutive
 * blocks are at least gap + 1 slices apart. Blocks are [from, to) with from < to.
 */
export function slabRanges(n: number, slabs: number, gap: number): { from: number; to: number }[] {
  if (!Number.isInteger(n) || n < 1)
    throw new RealSplitError(`slice count must be a positive integer, got ${n}`);
  if (!Number.isInteger(slabs) || slabs < 2)
    throw new RealSplitError(`slabs must be an integer ≥ 2, got ${slabs}`);
  if (!Number.isInteger(gap) || gap < 0) throw new RealSplitError(`gap must be an integer ≥ 0, got ${gap}`);
  const out: { from: number; to: number }[] = [];
  for (let i = 0; i < slabs; i++) {
    const start = Math.round((i * n) / slabs);
    const end = Math.round(((i + 1) * n) / slabs);
    const from = i === 0 ? start : start + gap;
    if (from >= end)
      throw new RealSplitError(
        `${n} slices cannot make ${slabs} slabs with ${gap}-slice gaps (slab ${i} would be empty)`,
      );
    out.push({ from, to: end });
  }
  return out;
}

/** The split of one structure's volumes (see the module comment). */
export function splitStructure(
  structure: string,
  volumes: readonly RealVolume[],
  opts: { slabs: number; gap: number },
): StructureSplit {
  if (volumes.length === 0) throw new RealSplitError(`${structure}: no volumes`);
  const ids = new Set(volumes.map((v) => v.id));
  if (ids.size !== volumes.length) throw new RealSplitError(`${structure}: a volume is listed twice`);
  if (volumes.length >= 2) {
    const sorted = [...volumes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const unit = (v: RealVolume): SliceUnit => ({ volume: v.id, from: 0, to: v.slices });
    return {
      structure,
      by: 'volume',
      weak: false,
      train: sorted.filter((_, i) => i % 2 === 0).map(unit),
      test: sorted.filter((_, i) => i % 2 === 1).map(unit),
    };
  }
  const v = volumes[0];
  const ranges = slabRanges(v.slices, opts.slabs, opts.gap);
  const units = ranges.map((r, i) => ({ volume: v.id, from: r.from, to: r.to, slab: i }));
  return {
    structure,
    by: 'slab',
    weak: true,
    train: units.filter((u) => u.slab % 2 === 0),
    test: units.filter((u) => u.slab % 2 === 1),
  };
}

/**
 * Throws unless no volume (volume splits) or slice (slab splits) is on both sides, and every test slice of a
 * slab split is more than `gap` slices from every training slice of the same volume.
 */
export function assertDisjoint(split: StructureSplit, gap: number): void {
  if (split.train.length === 0 || split.test.length === 0)
    throw new RealSplitError(
      `${split.structure}: an empty side (train ${split.train.length}, test ${split.test.length})`,
    );
  for (const a of split.train)
    for (const b of split.test) {
      if (a.volume !== b.volume) continue;
      if (split.by === 'volume')
        throw new RealSplitError(`${split.structure}: volume ${a.volume} is on both sides`);
      // Distance between the blocks [a.from, a.to) and [b.from, b.to).
      const dist = a.to <= b.from ? b.from - (a.to - 1) : b.to <= a.from ? a.from - (b.to - 1) : 0;
      if (dist <= gap)
        throw new RealSplitError(
          `${split.structure}: training slices ${a.from}–${a.to - 1} and test slices ${b.from}–${b.to - 1} of ${a.volume} are ${dist === 0 ? 'overlapping' : `only ${dist} apart`}`,
        );
    }
}

/** Whether slice `index` of `volume` is on the given side. */
export function inUnits(units: readonly SliceUnit[], volume: string, index: number): boolean {
  return units.some((u) => u.volume === volume && index >= u.from && index < u.to);
}

/** Foreground pixels of a 0/1 (or 0/255) mask. */
export function maskPixels(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}

/** Tight box [x0, y0, x1, y1] (inclusive pixels) of a mask's foreground, or null when it is empty. */
export function tightBox(
  mask: ArrayLike<number>,
  width: number,
  height: number,
): [number, number, number, number] | null {
  if (mask.length !== width * height)
    throw new RealSplitError(`mask has ${mask.length} pixels, expected ${width}×${height}`);
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (mask[y * width + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/**
 * Whether a slice's structure mask is kept: at least `minPixels` foreground pixels (smaller cross-sections, e.g.
 * the tip of a structure at the volume's edge, are dropped, as the trainer drops regions under its minimum).
 */
export function keepSlice(mask: ArrayLike<number>, minPixels: number): boolean {
  if (!(minPixels >= 1)) throw new RealSplitError(`minPixels must be ≥ 1, got ${minPixels}`);
  return maskPixels(mask) >= minPixels;
}

/** Nearest-neighbour resize of a one-byte-per-pixel image or mask (pixel centres aligned). */
export function resizeNearest(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  if (src.length !== w * h) throw new RealSplitError(`image has ${src.length} pixels, expected ${w}×${h}`);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / H));
    for (let x = 0; x < W; x++)
      out[y * W + x] = src[sy * w + Math.min(w - 1, Math.floor(((x + 0.5) * w) / W))];
  }
  return out;
}

/** Bilinear resize of a one-byte-per-pixel image (pixel centres aligned, edges clamped). */
export function resizeBilinear(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  if (src.length !== w * h) throw new RealSplitError(`image has ${src.length} pixels, expected ${w}×${h}`);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const fy = Math.max(0, Math.min(h - 1, ((y + 0.5) * h) / H - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.max(0, Math.min(w - 1, ((x + 0.5) * w) / W - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const top = src[y0 * w + x0] * (1 - tx) + src[y0 * w + x1] * tx;
      const bot = src[y1 * w + x0] * (1 - tx) + src[y1 * w + x1] * tx;
      out[y * W + x] = Math.round(top * (1 - ty) + bot * ty);
    }
  }
  return out;
}

/**
 * The largest 8-connected component of a 0/1 mask (ties: the first in raster order), as a new 0/1 mask; empty
 * in, empty out. Used to drop what a CT threshold also catches outside the patient (the head holder).
 */
export function largestComponent(mask: ArrayLike<number>, width: number, height: number): Uint8Array {
  if (mask.length !== width * height)
    throw new RealSplitError(`mask has ${mask.length} pixels, expected ${width}×${height}`);
  const label = new Int32Array(width * height);
  const stack: number[] = [];
  let best = 0;
  let bestSize = 0;
  let next = 0;
  for (let p = 0; p < label.length; p++) {
    if (!mask[p] || label[p]) continue;
    const id = ++next;
    let size = 0;
    label[p] = id;
    stack.push(p);
    while (stack.length) {
      const q = stack.pop()!;
      size++;
      const x = q % width;
      const y = (q - x) / width;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const r = ny * width + nx;
          if (mask[r] && !label[r]) {
            label[r] = id;
            stack.push(r);
          }
        }
    }
    if (size > bestSize) {
      bestSize = size;
      best = id;
    }
  }
  const out = new Uint8Array(width * height);
  if (best) for (let p = 0; p < out.length; p++) out[p] = label[p] === best ? 1 : 0;
  return out;
}

/** At most `max` items of a list, evenly spaced (first always in; all when max ≥ length). */
export function evenlySpaced<T>(items: readonly T[], max: number): T[] {
  if (!Number.isInteger(max) || max < 1)
    throw new RealSplitError(`max must be a positive integer, got ${max}`);
  if (items.length <= max) return [...items];
  return Array.from({ length: max }, (_, i) => items[Math.floor((i * items.length) / max)]);
}
