/**
 * τ statistics of a pool of held-out VAE scores. Pure TypeScript (the adapter validator needs the type).
 *
 * Percentiles use linear interpolation between order statistics, numpy's default (`method='linear'`):
 * sorted x, position (n−1)·p/100, value x[⌊pos⌋] + (pos − ⌊pos⌋)·(x[⌊pos⌋+1] − x[⌊pos⌋]).
 * `std` is the population standard deviation (numpy's default ddof = 0).
 */
import type { AdapterTauStats } from '@casam/protocol';

/** The threshold and the summary of the held-out score distribution it came from (the adapter file's `tau`). */
export type TauStats = AdapterTauStats;

export class TauCalibrationError extends Error {
  override name = 'TauCalibrationError';
}

/** numpy-style linear-interpolation percentile (p in [0,100]) of unsorted values. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) throw new TauCalibrationError('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new TauCalibrationError(`percentile must lie in [0, 100], got ${p}`);
  const s = Float64Array.from(values).sort();
  if (s.some((v) => Number.isNaN(v))) throw new TauCalibrationError('percentile of values containing NaN');
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (pos - lo) * (s[hi] - s[lo]);
}

/** τ and the summary statistics of a set of scores. */
export function tauStatsFromScores(scores: ArrayLike<number>, pct = 97): TauStats {
  const n = scores.length;
  if (n === 0) throw new TauCalibrationError('no scores to calibrate τ from');
  let mean = 0;
  for (let i = 0; i < n; i++) mean += scores[i];
  mean /= n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (scores[i] - mean) ** 2;
  return {
    tau: percentile(scores, pct),
    p95: percentile(scores, 95),
    p99: percentile(scores, 99),
    mean,
    std: Math.sqrt(sq / n),
    n,
    percentile: pct,
  };
}
