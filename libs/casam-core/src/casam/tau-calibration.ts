/**
 * τ calibration of a task's VAE: split the task's features into k seeded folds, train a temporary VAE on k−1
 * folds, score the held-out fold (z = μ), pool all held-out scores, τ = their 97th percentile.
 * The statistics (numpy-style linear percentiles, population std) are in tau-stats.ts.
 */
import { tf } from '../sam/tf';
import { HostTensor, toFloat32 } from '../tensor/host-tensor';
import { createRng, deriveSeed, shuffledIndices } from '../random/seeded-random';
import { FeatureMatrix, TrainTaskVaeOptions, trainTaskVae } from './task-vae';
import { TauCalibrationError, TauStats, tauStatsFromScores } from './tau-stats';

/** Fold of every row: a seeded permutation dealt round-robin, so fold sizes differ by at most one. */
export function foldAssignment(n: number, folds: number, seed: number): Int32Array {
  const order = shuffledIndices(n, createRng(deriveSeed(seed, 'folds')));
  const fold = new Int32Array(n);
  order.forEach((row, pos) => (fold[row] = pos % folds));
  return fold;
}

export interface TauCalibrationProgress {
  /** 1-based fold just finished. */
  fold: number;
  folds: number;
  /** Held-out scores of that fold. */
  scores: Float32Array;
}

export interface CalibrateTauOptions {
  folds?: number;
  percentile?: number;
  seed?: number;
  /** Training options of the temporary VAEs (epochs, batchSize, lr, beta); their seed derives from `seed`. */
  vaeOptions?: Omit<TrainTaskVaeOptions, 'seed' | 'signal' | 'resume' | 'onCheckpoint'>;
  onProgress?: (p: TauCalibrationProgress) => void;
  /** Checked between folds; an aborted calibration throws `TauCalibrationError` (τ of a partial pool is wrong). */
  signal?: AbortSignal;
  /** Held-out scores of folds finished earlier (index = fold), to resume an interrupted calibration. */
  resumeFoldScores?: (Float32Array | null)[];
}

/**
 * Fewest training images per task from which τ is trusted. Set on casam-tiny's `npm run bench:tau-data`
 * (9 synthetic tasks, VAEs of 10 epochs): with τ from 5, 8 or 16 images per task the fold VAEs are barely trained,
 * τ comes out at 37, 25 and 4.9 and 0–15% of an unseen domain's images fall back to frozen SAM; from 32 images τ
 * is 1.3 and 88–92% fall back (96% at 48), while each task still accepts 98% of its own images. On casam-small
 * with the VAEs' 150-step floor (bench/results/tau-data.md) unseen images fall back at every N, and what few
 * images cost is the task's own: its τ from 5 or 8 images accepts 85–89% of them (97% from 16).
 */
export const MIN_TAU_TRAINING_IMAGES = 32;

/** The percentile of the held-out scores τ is taken at: the paper's 97th. */
export const DEFAULT_TAU_PERCENTILE = 97;
/**
 * The percentiles `site-agent train --tau-percentile` accepts. Each point up routes more of a task's own images to
 * its layer and lets more images of other domains through (bench:continual's "Where the threshold sits").
 */
export const TAU_PERCENTILE_RANGE = Object.freeze({ min: 80, max: 100 });

export interface TauCalibrationResult extends TauStats {
  /** Held-out score of every feature row, in input order. */
  scores: Float32Array;
  folds: number;
}

function hostRows(features: FeatureMatrix): { data: Float32Array; n: number; c: number } {
  if (features.shape.length !== 2)
    throw new TauCalibrationError(`features must be [N,C], got [${features.shape}]`);
  const [n, c] = features.shape;
  const data =
    features instanceof tf.Tensor
      ? Float32Array.from(features.dataSync() as Float32Array)
      : toFloat32(features as HostTensor);
  return { data, n, c };
}

export async function calibrateTau(
  features: FeatureMatrix,
  opts: CalibrateTauOptions = {},
): Promise<TauCalibrationResult> {
  const folds = opts.folds ?? 5;
  const pct = opts.percentile ?? DEFAULT_TAU_PERCENTILE;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(folds) || folds < 2)
    throw new TauCalibrationError(`folds must be an integer ≥ 2, got ${folds}`);
  if (!(pct > 0 && pct <= 100)) throw new TauCalibrationError(`percentile must lie in (0, 100], got ${pct}`);
  const { data, n, c } = hostRows(features);
  if (n < folds)
    throw new TauCalibrationError(`τ calibration needs at least ${folds} features (one per fold), got ${n}`);
  const fold = foldAssignment(n, folds, seed);
  const scores = new Float32Array(n).fill(NaN);
  for (let k = 0; k < folds; k++) {
    if (opts.signal?.aborted)
      throw new TauCalibrationError(`τ calibration aborted after ${k} of ${folds} folds`);
    const trainRows: number[] = [];
    const testRows: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === k ? testRows : trainRows).push(i);
    const gather = (rows: number[]): HostTensor => {
      const out = new Float32Array(rows.length * c);
      rows.forEach((r, j) => out.set(data.subarray(r * c, (r + 1) * c), j * c));
      return { dtype: 'float32', shape: [rows.length, c], data: out };
    };
    let held = opts.resumeFoldScores?.[k] ?? null;
    if (held && held.length !== testRows.length)
      throw new TauCalibrationError(
        `resumed scores of fold ${k + 1} have ${held.length} values, expected ${testRows.length}`,
      );
    if (!held) {
      const { vae } = await trainTaskVae(gather(trainRows), {
        ...opts.vaeOptions,
        seed: deriveSeed(seed, 'fold', k),
      });
      try {
        held = vae.scoreFeatures(gather(testRows));
      } finally {
        vae.dispose();
      }
    }
    testRows.forEach((r, j) => (scores[r] = held![j]));
    opts.onProgress?.({ fold: k + 1, folds, scores: held });
  }
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(scores[i]))
      throw new TauCalibrationError(`held-out score of row ${i} is ${scores[i]}`);
  return { ...tauStatsFromScores(scores, pct), scores, folds };
}
