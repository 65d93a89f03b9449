/** Seeded randomness for CA-SAM (Math.random is not seedable); everything builds on mulberry32. */
import { mulberry32 } from '../sam/random-weights';

export type Rng = () => number;

/**
 * A seed derived from a base seed and labels (epoch, fold, purpose), so each stream is independent and a
 * resumed run draws the same numbers as an uninterrupted one. FNV-1a over the parts, then one mulberry32 step.
 */
export function deriveSeed(seed: number, ...parts: (string | number)[]): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  const text = parts.join('\u0001');
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return Math.floor(mulberry32(h)() * 4294967296) >>> 0;
}

export function createRng(seed: number): Rng {
  return mulberry32(seed);
}

/** Uniform values in [-bound, bound). */
export function uniformArray(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = bound * (2 * rng() - 1);
  return out;
}

/** Standard normal values (Box–Muller; u1 is kept away from 0 so log stays finite). */
export function normalArray(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng(); // (0, 1]
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Fisher–Yates shuffle of 0..n-1. */
export function shuffledIndices(n: number, rng: Rng): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}
