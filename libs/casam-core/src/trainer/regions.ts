/**
 * What a "region" is when prompts are derived from ground truth. A dataset gives one mask per class and image;
 * a class often has several separate objects (glands, glomeruli, teeth). One box around all of them covers
 * most of the image and asks SAM for something it cannot express with one box, so by default every connected
 * component (8-connected) of a class mask is its own region — its own box or points, its own IoU — and specks
 * below a minimum size (label noise) are left out. `classes` keeps one region per non-empty class mask.
 */
import type { RegionMask } from './training-item';

export type RegionSplit = 'components' | 'classes';

export interface RegionOptions {
  /** `components` (default): each connected component of a class mask; `classes`: each class mask whole. */
  split?: RegionSplit;
  /** Components with fewer pixels are dropped (default: max(16, H·W / 4096), e.g. 16 px at 256², 256 at 1024²). */
  minPixels?: number;
}

export function defaultMinRegionPixels(width: number, height: number): number {
  return Math.max(16, Math.ceil((width * height) / 4096));
}

/**
 * The regions of one image's class masks (H·W, 0/1), in class order, then in raster order of each component's
 * first pixel. Deterministic. Leaves the input masks untouched.
 */
export function splitRegions(
  masks: readonly RegionMask[],
  width: number,
  height: number,
  opts: RegionOptions = {},
): RegionMask[] {
  const split = opts.split ?? 'components';
  const minPixels = opts.minPixels ?? defaultMinRegionPixels(width, height);
  const out: RegionMask[] = [];
  for (const m of masks) {
    if (split === 'classes') {
      if (m.mask.some((v) => v !== 0)) out.push(m);
      continue;
    }
    for (const c of connectedComponents(m.mask, width, height))
      if (c.pixels >= minPixels) out.push({ classId: m.classId, mask: c.mask });
  }
  return out;
}

/** How many regions `splitRegions` would return, without keeping their masks. */
export function countRegions(
  masks: readonly RegionMask[],
  width: number,
  height: number,
  opts: RegionOptions = {},
): number {
  return splitRegions(masks, width, height, opts).length;
}

/** 8-connected components of a 0/1 mask, each as its own 0/1 mask, with its pixel count. */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
): { mask: Uint8Array; pixels: number }[] {
  const n = width * height;
  if (mask.length !== n) throw new RangeError(`mask has ${mask.length} values, expected ${width}×${height}`);
  const label = new Int32Array(n);
  const stack = new Int32Array(n);
  const out: { mask: Uint8Array; pixels: number }[] = [];
  for (let s = 0; s < n; s++) {
    if (!mask[s] || label[s]) continue;
    const id = out.length + 1;
    const comp = new Uint8Array(n);
    let top = 0;
    let pixels = 0;
    stack[top++] = s;
    label[s] = id;
    while (top > 0) {
      const p = stack[--top];
      comp[p] = 1;
      pixels++;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (mask[q] && !label[q]) {
            label[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    out.push({ mask: comp, pixels });
  }
  return out;
}
