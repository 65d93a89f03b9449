import { describe, expect, it } from 'vitest';
import type { AdapterTauStats } from './adapter-schema';
import { adapterTauProblems, tauPercentileBounds } from './adapter-tau';

/** numpy-style linear percentile, as casam-core's tau-stats computes it (protocol may not import casam-core). */
function percentile(values: number[], p: number): number {
  const s = Float64Array.from(values).sort();
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (pos - lo) * (s[hi] - s[lo]);
}

/** The statistics a real calibration writes for these scores (float32 scores, float64 arithmetic). */
function statsOf(scores: number[], pct = 97): AdapterTauStats {
  const xs = Array.from(Float32Array.from(scores));
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return {
    tau: percentile(xs, pct),
    p95: percentile(xs, 95),
    p99: percentile(xs, 99),
    mean,
    std,
    n,
    percentile: pct,
  };
}

/** A fixed-seed generator (mulberry32): the same draws on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('adapterTauProblems', () => {
  it('accepts the statistics of any real set of scores: sizes 1 to 2000, skewed, heavy-tailed, constant, with outliers', () => {
    const r = rng(16);
    const shapes: Record<string, () => number> = {
      uniform: () => r(),
      exponential: () => -Math.log(1 - r()),
      pareto: () => 1 / Math.pow(1 - r(), 1 / 1.2),
      bimodal: () => (r() < 0.9 ? 0.1 * r() : 50 + r()),
      constant: () => 0.37,
      tiny: () => 1e-7 * r(),
      huge: () => 1e6 + 1e3 * r(),
    };
    let checked = 0;
    for (const [shape, draw] of Object.entries(shapes))
      for (const n of [1, 2, 3, 5, 10, 37, 100, 2000])
        for (const pct of [97, 50, 95, 99, 99.5, 100]) {
          const stats = statsOf(
            Array.from({ length: n }, () => draw()),
            pct,
          );
          expect(adapterTauProblems(stats), `${shape} n=${n} p=${pct}: ${JSON.stringify(stats)}`).toEqual([]);
          checked++;
        }
    expect(checked).toBe(7 * 8 * 6);
  });

  it('accepts the extreme case the bound is tight for: one outlier among equal scores', () => {
    for (const n of [2, 10, 64, 1000]) {
      const scores = [...Array(n - 1).fill(0.25), 1e4];
      expect(adapterTauProblems(statsOf(scores, 100))).toEqual([]);
      expect(adapterTauProblems(statsOf(scores, 97))).toEqual([]);
    }
  });

  it('accepts the statistics the coordinator tests and the e2e sites send', () => {
    for (const t of [
      { tau: 1.25, p95: 1.1, p99: 1.4, mean: 0.8, std: 0.2, n: 64, percentile: 97 },
      { tau: 1, p95: 1, p99: 1, mean: 1, std: 0, n: 10, percentile: 97 },
      { tau: 1, p95: 0.9, p99: 1.2, mean: 0.5, std: 0.2, n: 100, percentile: 97 },
      { tau: 1.5, p95: 1.2, p99: 1.8, mean: 1, std: 0.25, n: 40, percentile: 97 },
    ])
      expect(adapterTauProblems(t), JSON.stringify(t)).toEqual([]);
  });

  it('refuses a τ its own statistics cannot have produced, saying what they allow', () => {
    const honest = statsOf(Array.from({ length: 64 }, (_, i) => 0.5 + i / 100));
    const huge = adapterTauProblems({ ...honest, tau: 1e30 });
    expect(huge[0]).toMatch(
      /^metadata tau: τ 1e\+30, the 97th percentile of the held-out scores, must lie between their p95 [\d.]+ and p99 [\d.]+$/,
    );
    expect(huge.join('\n')).toMatch(
      /metadata tau: τ 1e\+30 is more than 64 held-out scores with mean 0\.815 and std 0\.18\d* allow at their 97th percentile \(at most [\d.]+\); τ must come from the adapter's own calibration/,
    );
    // the percentiles moved along with τ: Cantelli still refuses
    const allHigh = adapterTauProblems({ ...honest, tau: 1e30, p95: 1e30, p99: 1e30 });
    expect(allHigh).toHaveLength(3);
    expect(allHigh.every((p) => /is more than 64 held-out scores/.test(p))).toBe(true);
    // no spread at all: τ is the mean
    expect(
      adapterTauProblems({ tau: 2, p95: 2, p99: 2, mean: 1, std: 0, n: 10, percentile: 97 }),
    ).toHaveLength(3);
    // below what the statistics allow, and percentiles out of order
    expect(adapterTauProblems({ ...honest, tau: -5, p95: -6 }).join('\n')).toMatch(
      /is less than 64 held-out scores/,
    );
    expect(adapterTauProblems({ ...honest, p95: 2, p99: 1 })[0]).toBe('metadata tau: p95 2 is above p99 1');
    expect(adapterTauProblems({ ...honest, percentile: 100, tau: honest.p99 - 0.1 })[0]).toMatch(
      /is below the 99th/,
    );
    expect(adapterTauProblems({ ...honest, percentile: 90, tau: honest.p95 + 0.01 })[0]).toMatch(
      /is above the 95th/,
    );
  });

  it('bounds a maximum by Samuelson: mean + std·√(n−1)', () => {
    expect(tauPercentileBounds(10, 100, 1, 2).max).toBeCloseTo(1 + 2 * 3, 12);
    expect(tauPercentileBounds(1, 97, 5, 0)).toEqual({ min: 5, max: 5 });
  });
});
