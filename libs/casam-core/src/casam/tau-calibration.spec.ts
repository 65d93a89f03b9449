import { describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { HostTensor, float32Tensor } from '../tensor/host-tensor';
import { useBackend } from './casam-fixtures.testing';
import { createRng, normalArray } from '../random/seeded-random';
import { calibrateTau, foldAssignment } from './tau-calibration';
import { TauCalibrationError, percentile, tauStatsFromScores } from './tau-stats';

function features(n: number, c: number, seed: number): HostTensor {
  const rng = createRng(seed);
  const centre = normalArray(c, rng);
  const d = normalArray(n * c, rng).map((v, i) => centre[i % c] + 0.5 * v);
  return float32Tensor([n, c], d);
}

describe('percentile (numpy linear interpolation)', () => {
  it('matches numpy.percentile on known numbers', () => {
    expect(percentile([1, 2, 3, 4], 97)).toBeCloseTo(3.91, 12); // np.percentile([1,2,3,4], 97)
    expect(percentile([4, 1, 3, 2], 50)).toBeCloseTo(2.5, 12);
    expect(percentile([15, 20, 35, 40, 50], 40)).toBeCloseTo(29, 12);
    expect(percentile([15, 20, 35, 40, 50], 0)).toBe(15);
    expect(percentile([15, 20, 35, 40, 50], 100)).toBe(50);
    expect(percentile([7], 97)).toBe(7);
    // 1..100: position 0.97·99 = 96.03 → 97 + 0.03
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        97,
      ),
    ).toBeCloseTo(97.03, 10);
  });

  it('summary statistics use the population std', () => {
    const s = tauStatsFromScores([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.std).toBe(2);
    expect(s.n).toBe(8);
    expect(s.percentile).toBe(97);
    expect(s.tau).toBeCloseTo(9 - 0.21 * 2, 12); // pos 6.79 → 7 + 0.79·2
    expect(s.p95).toBeCloseTo(7 + 0.65 * 2, 12);
    expect(s.p99).toBeCloseTo(7 + 0.93 * 2, 12);
  });

  it('rejects empty input, NaN and out-of-range percentiles', () => {
    expect(() => percentile([], 50)).toThrow(TauCalibrationError);
    expect(() => percentile([1, NaN], 50)).toThrow(/NaN/);
    expect(() => percentile([1], 101)).toThrow(/\[0, 100\]/);
  });
});

describe('fold assignment', () => {
  it('is seeded and balanced', () => {
    const a = foldAssignment(23, 5, 1);
    expect([...a]).toEqual([...foldAssignment(23, 5, 1)]);
    expect([...a]).not.toEqual([...foldAssignment(23, 5, 2)]);
    const sizes = [0, 1, 2, 3, 4].map((k) => a.filter((f) => f === k).length);
    expect(sizes.sort()).toEqual([4, 4, 5, 5, 5]);
  });
});

describe('calibrateTau', () => {
  it('pools 5-fold held-out scores; seeded-reproducible; resumable; no leaks', async () => {
    await useBackend('wasm');
    const feats = features(25, 64, 7);
    const vaeOptions = { epochs: 3 };
    const before = tf.memory().numTensors;
    const folds: number[] = [];
    const saved: Float32Array[] = [];
    const a = await calibrateTau(feats, {
      seed: 4,
      vaeOptions,
      onProgress: (p) => {
        folds.push(p.fold);
        saved.push(p.scores);
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(folds).toEqual([1, 2, 3, 4, 5]);
    expect(a.n).toBe(25);
    expect(a.folds).toBe(5);
    expect(a.percentile).toBe(97);
    expect(a.scores.every(Number.isFinite)).toBe(true);
    expect(a.tau).toBe(percentile(a.scores, 97));
    expect(a.p95).toBeLessThanOrEqual(a.tau);
    expect(a.tau).toBeLessThanOrEqual(a.p99);
    console.log(
      'toy τ calibration',
      JSON.stringify({ tau: a.tau, p95: a.p95, p99: a.p99, mean: a.mean, std: a.std }),
    );

    const b = await calibrateTau(feats, { seed: 4, vaeOptions });
    expect([...b.scores]).toEqual([...a.scores]);
    expect(b.tau).toBe(a.tau);
    const c = await calibrateTau(feats, { seed: 5, vaeOptions });
    expect(c.tau).not.toBe(a.tau);

    // Resume after fold 3: folds 1–3 are taken as given, 4–5 are recomputed identically.
    const resumed = await calibrateTau(feats, {
      seed: 4,
      vaeOptions,
      resumeFoldScores: [saved[0], saved[1], saved[2], null, null],
    });
    expect([...resumed.scores]).toEqual([...a.scores]);
  });

  it('needs at least one feature per fold and valid options', async () => {
    await useBackend('cpu');
    await expect(calibrateTau(features(4, 64, 1))).rejects.toThrow(/at least 5 features/);
    await expect(calibrateTau(features(4, 64, 1))).rejects.toBeInstanceOf(TauCalibrationError);
    await expect(calibrateTau(features(10, 64, 1), { folds: 1 })).rejects.toThrow(/folds/);
    await expect(calibrateTau(features(10, 64, 1), { percentile: 0 })).rejects.toThrow(/percentile/);
    const ctl = new AbortController();
    ctl.abort();
    await expect(calibrateTau(features(10, 64, 1), { signal: ctl.signal })).rejects.toThrow(/aborted/);
  });
});
