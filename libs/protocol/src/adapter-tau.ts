/**
 * Whether an adapter's τ can have come from its own calibration statistics. Depends on nothing.
 *
 * Routing uses a task's Alignment Layer for an image when the task's VAE scores it at most τ, so a τ far above
 * the scores the VAE gives its own data (1e30 was accepted) would claim every image of the federation once
 * approved. The metadata carries the summary of the held-out scores τ was taken from (`n` scores, their mean
 * and population std, the 95th and 99th percentiles, and τ at `percentile`, all numpy-style linear
 * percentiles), and these numbers constrain each other for any set of scores at all:
 *
 * - percentiles grow with p: p95 ≤ p99, and τ lies between them as its percentile lies between 95 and 99;
 * - a linear percentile at position (n−1)·p/100 lies between the order statistics x[lo] and x[hi] around it,
 *   so at least n−hi scores are ≥ it and at least lo+1 are ≤ it; by Cantelli's inequality (a fraction of at
 *   most 1/(1+k²) of any distribution lies k standard deviations or more above its mean, or below) it is at
 *   most mean + std·√((1−f)/f) with f = (n−hi)/n, and at least mean − std·√((1−g)/g) with g = (lo+1)/n.
 *
 * A τ outside these bounds cannot be the percentile of the scores its own statistics describe. (A consistent
 * set of made-up statistics still passes: the admin sees them next to the other versions' before approving.)
 */
import type { AdapterTauStats } from './adapter-schema';

/** Relative slack for floating-point rounding in the statistics (they are computed in float64). */
const RELATIVE_TOLERANCE = 1e-6;

/** Where a linear percentile of n sorted values falls: between x[lo] and x[hi]. */
function around(n: number, p: number): { lo: number; hi: number } {
  const pos = ((n - 1) * p) / 100;
  const lo = Math.floor(pos);
  return { lo, hi: Math.min(lo + 1, n - 1) };
}

/** The bounds Cantelli's inequality puts on the p-th percentile of n scores with this mean and std. */
export function tauPercentileBounds(
  n: number,
  p: number,
  mean: number,
  std: number,
): { min: number; max: number } {
  const { lo, hi } = around(n, p);
  const f = (n - hi) / n;
  const g = (lo + 1) / n;
  return { min: mean - std * Math.sqrt((1 - g) / g), max: mean + std * Math.sqrt((1 - f) / f) };
}

const fmt = (x: number): string => String(Number(x.toPrecision(6)));

/**
 * Every way `t` contradicts itself (empty when τ can be the `percentile`-th percentile of the scores its
 * statistics describe). Expects the field checks of `validateAdapterFile` to have passed (finite numbers,
 * integer n ≥ 1, std ≥ 0, percentile in (0, 100]); returns nothing to add otherwise.
 */
export function adapterTauProblems(t: AdapterTauStats): string[] {
  const { tau, p95, p99, mean, std, n, percentile } = t;
  const numbers = [tau, p95, p99, mean, std, n, percentile];
  if (!numbers.every(Number.isFinite) || !Number.isInteger(n) || n < 1 || std < 0) return [];
  if (!(percentile > 0 && percentile <= 100)) return [];
  const slack =
    RELATIVE_TOLERANCE * Math.max(Math.abs(tau), Math.abs(p95), Math.abs(p99), Math.abs(mean), std, 1e-12);
  const p: string[] = [];
  if (p95 > p99 + slack) p.push(`metadata tau: p95 ${fmt(p95)} is above p99 ${fmt(p99)}`);
  else if (percentile >= 95 && percentile <= 99 && (tau < p95 - slack || tau > p99 + slack))
    p.push(
      `metadata tau: τ ${fmt(tau)}, the ${percentile}th percentile of the held-out scores, must lie between their p95 ${fmt(p95)} and p99 ${fmt(p99)}`,
    );
  else if (percentile < 95 && tau > p95 + slack)
    p.push(`metadata tau: τ ${fmt(tau)}, the ${percentile}th percentile, is above the 95th (${fmt(p95)})`);
  else if (percentile > 99 && tau < p99 - slack)
    p.push(`metadata tau: τ ${fmt(tau)}, the ${percentile}th percentile, is below the 99th (${fmt(p99)})`);
  for (const [name, value, at] of [
    ['τ', tau, percentile],
    ['p95', p95, 95],
    ['p99', p99, 99],
  ] as const) {
    const { min, max } = tauPercentileBounds(n, at, mean, std);
    if (value > max + slack)
      p.push(
        `metadata tau: ${name} ${fmt(value)} is more than ${n} held-out scores with mean ${fmt(mean)} and std ${fmt(std)} allow at their ${at}th percentile (at most ${fmt(max)}); τ must come from the adapter's own calibration`,
      );
    else if (value < min - slack)
      p.push(
        `metadata tau: ${name} ${fmt(value)} is less than ${n} held-out scores with mean ${fmt(mean)} and std ${fmt(std)} allow at their ${at}th percentile (at least ${fmt(min)}); τ must come from the adapter's own calibration`,
      );
  }
  return p;
}
