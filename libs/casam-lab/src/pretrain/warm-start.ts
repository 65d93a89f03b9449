/**
 * Warm start: carries a trained SAM's weights over to a preset with a finer patch grid (casam-tiny's 16-px
 * patches → casam-small's 8-px patches), so a new default does not relearn from noise what the old one knows.
 *
 * Every tensor whose shape is unchanged is copied. The three that depend on the grid are resampled:
 * - `patch_embed.proj.weight` [E,C,p,p] → [E,C,q,q] (p a multiple of q): each q-kernel cell is the *sum* of the
 *   p/q × p/q cells it covers, so a locally constant image gives the same patch response as before;
 * - `pos_embed` [1,g,g,E] → [1,G,G,E]: bilinear, half-pixel centres (as F.interpolate, align_corners=False);
 * - `rel_pos_h/w` [2g−1,D] → [2G−1,D]: linear over the table, as the official get_rel_pos resizes tables,
 *   so a distance of d new tokens reads what d·g/G old tokens read. Windowed blocks keep their tables.
 * Anything else that differs in shape is an error naming the tensor (a different width or depth is not a
 * warm start).
 */
import {
  SamConfig,
  gridSize,
  HostTensor,
  StateDict,
  float32Tensor,
  shapeEquals,
  toFloat32,
  expectedStateDict,
} from '@casam/casam-core';

export class WarmStartError extends Error {
  override name = 'WarmStartError';
}

/** Linear resampling of `n` rows of width `d` to `m` rows, half-pixel centres, edges clamped. */
function resampleRows(src: Float32Array, n: number, d: number, m: number): Float32Array {
  const out = new Float32Array(m * d);
  const scale = n / m;
  for (let i = 0; i < m; i++) {
    const x = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), n - 1);
    const i0 = Math.floor(x);
    const i1 = Math.min(i0 + 1, n - 1);
    const t = x - i0;
    for (let k = 0; k < d; k++) out[i * d + k] = (1 - t) * src[i0 * d + k] + t * src[i1 * d + k];
  }
  return out;
}

/** Bilinear resize of an [g,g,E] grid to [G,G,E]: rows first, then columns. */
function resizeGrid(src: Float32Array, g: number, e: number, big: number): Float32Array {
  // Rows: treat each of the g source rows as a block of g·E values.
  const rows = resampleRows(src, g, g * e, big); // [G, g, E]
  const out = new Float32Array(big * big * e);
  for (let y = 0; y < big; y++) {
    const col = resampleRows(rows.subarray(y * g * e, (y + 1) * g * e), g, e, big); // [G, E]
    out.set(col, y * big * e);
  }
  return out;
}

/** Sums p/q × p/q blocks of each [p,p] kernel into a [q,q] kernel. */
function poolKernel(src: Float32Array, planes: number, p: number, q: number): Float32Array {
  const f = p / q;
  const out = new Float32Array(planes * q * q);
  for (let c = 0; c < planes; c++)
    for (let y = 0; y < p; y++)
      for (let x = 0; x < p; x++)
        out[c * q * q + Math.floor(y / f) * q + Math.floor(x / f)] += src[c * p * p + y * p + x];
  return out;
}

export interface WarmStartReport {
  copied: number;
  resampled: string[];
}

/** A state dict for `to`, taken from `from`'s weights `sd` (see the file header for the rules). */
export function warmStartStateDict(
  from: SamConfig,
  sd: StateDict,
  to: SamConfig,
): { weights: StateDict; report: WarmStartReport } {
  const g = gridSize(from);
  const big = gridSize(to);
  const out: StateDict = new Map();
  const report: WarmStartReport = { copied: 0, resampled: [] };
  for (const { name, shape } of expectedStateDict(to)) {
    const src: HostTensor | undefined = sd.get(name);
    if (!src) throw new WarmStartError(`warm start: ${from.name} weights have no ${name}`);
    if (shapeEquals(src.shape, shape)) {
      out.set(name, float32Tensor([...shape], Float32Array.from(toFloat32(src))));
      report.copied++;
      continue;
    }
    const data = toFloat32(src);
    const bad = (): WarmStartError =>
      new WarmStartError(
        `warm start: ${name} is [${src.shape.join(',')}] in ${from.name} but [${shape.join(',')}] in ${to.name}; ` +
          `only the patch size may differ`,
      );
    let resized: Float32Array;
    if (name.endsWith('patch_embed.proj.weight')) {
      const [e, c, p] = src.shape;
      const q = shape[2];
      if (e !== shape[0] || c !== shape[1] || p % q !== 0) throw bad();
      resized = poolKernel(data, e * c, p, q);
    } else if (name.endsWith('.pos_embed')) {
      const e = src.shape[3];
      if (src.shape[1] !== g || shape[1] !== big || e !== shape[3]) throw bad();
      resized = resizeGrid(data, g, e, big);
    } else if (/rel_pos_[hw]$/.test(name)) {
      const [n, d] = src.shape;
      if (d !== shape[1]) throw bad();
      resized = resampleRows(data, n, d, shape[0]);
    } else throw bad();
    out.set(name, float32Tensor([...shape], resized));
    report.resampled.push(name);
  }
  return { weights: out, report };
}
