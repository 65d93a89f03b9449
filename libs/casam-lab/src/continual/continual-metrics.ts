/**
 * Continual-learning scores of an accuracy matrix a[t][j]: the IoU on task j (in arrival order) after training
 * stage t, defined for j ≤ t (CASAM-SPEC "Evaluation"):
 *
 *   Avg-IoU       mean_j a[T][j]                      over all tasks, after the last stage T
 *   forgetting_j  max_{l<T} a[l][j] − a[T][j]         for every j < T (the last task cannot have been forgotten)
 *   BWT           mean_{j<T} (a[T][j] − a[j][j])      backward transfer: negative = forgetting
 *
 * Means over an empty set (a single stage) are null, never 0, so "no data" cannot read as "no forgetting".
 */

/** Lower-triangular: row t holds t + 1 values (tasks 0..t). */
export type StageMatrix = readonly (readonly number[])[];

export class ContinualMetricsError extends Error {
  override name = 'ContinualMetricsError';
}

export interface ContinualSummary {
  stages: number;
  /** mean_j a[T][j]. */
  avgIou: number;
  /** mean_{j ≤ t} a[t][j] after every stage t (the Avg-IoU curve). */
  avgIouByStage: number[];
  /** forgetting_j for j < T (length T − 1). */
  forgetting: number[];
  /** Mean of `forgetting`; null with one stage. */
  avgForgetting: number | null;
  /** Null with one stage. */
  bwt: number | null;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Throws unless `a` is a non-empty lower-triangular matrix of finite numbers. */
export function checkStageMatrix(a: StageMatrix): void {
  if (a.length === 0) throw new ContinualMetricsError('the matrix has no stage');
  a.forEach((row, t) => {
    if (row.length !== t + 1)
      throw new ContinualMetricsError(`stage ${t} has ${row.length} values, expected ${t + 1}`);
    row.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new ContinualMetricsError(`a[${t}][${j}] is ${v}`);
    });
  });
}

export function summarizeContinual(a: StageMatrix): ContinualSummary {
  checkStageMatrix(a);
  const last = a.length - 1;
  const final = a[last];
  const forgetting: number[] = [];
  for (let j = 0; j < last; j++) {
    let best = -Infinity;
    for (let l = j; l < last; l++) best = Math.max(best, a[l][j]);
    forgetting.push(best - final[j]);
  }
  const bwtTerms = forgetting.map((_, j) => final[j] - a[j][j]);
  return {
    stages: a.length,
    avgIou: mean(final),
    avgIouByStage: a.map((row) => mean(row)),
    forgetting,
    avgForgetting: forgetting.length ? mean(forgetting) : null,
    bwt: bwtTerms.length ? mean(bwtTerms) : null,
  };
}

export interface Spread {
  n: number;
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
}

/** Spread of a score across runs (e.g. task orders). Non-finite values and nulls are left out. */
export function spreadOf(values: readonly (number | null)[]): Spread | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (xs.length === 0) return null;
  const m = mean(xs);
  const v = xs.length > 1 ? xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) : 0;
  return { n: xs.length, mean: m, min: Math.min(...xs), max: Math.max(...xs), std: Math.sqrt(v) };
}

/**
 * Re-indexes a matrix whose columns follow an arrival order into fixed task columns: out[t][k] is the score of
 * task `tasks[k]` after stage t, or null when that task has not arrived yet.
 */
export function matrixByTask(
  a: StageMatrix,
  order: readonly string[],
  tasks: readonly string[],
): (number | null)[][] {
  checkStageMatrix(a);
  if (order.length < a.length)
    throw new ContinualMetricsError(`order names ${order.length} tasks for ${a.length} stages`);
  return a.map((row) =>
    tasks.map((task) => {
      const j = order.indexOf(task);
      return j >= 0 && j < row.length ? row[j] : null;
    }),
  );
}
