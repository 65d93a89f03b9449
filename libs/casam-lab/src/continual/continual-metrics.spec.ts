import { describe, expect, it } from 'vitest';
import { ContinualMetricsError, matrixByTask, spreadOf, summarizeContinual } from './continual-metrics';

describe('summarizeContinual', () => {
  it('computes Avg-IoU, forgetting and BWT of a forgetting learner (golden numbers)', () => {
    const s = summarizeContinual([[0.5], [0.4, 0.6], [0.3, 0.5, 0.7]]);
    expect(s.stages).toBe(3);
    expect(s.avgIou).toBeCloseTo(0.5, 12);
    expect(s.avgIouByStage).toEqual([0.5, 0.5, expect.closeTo(0.5, 12)]);
    expect(s.forgetting[0]).toBeCloseTo(0.2, 12); // max(0.5, 0.4) − 0.3
    expect(s.forgetting[1]).toBeCloseTo(0.1, 12); // 0.6 − 0.5
    expect(s.avgForgetting).toBeCloseTo(0.15, 12);
    expect(s.bwt).toBeCloseTo(-0.15, 12); // mean(0.3 − 0.5, 0.5 − 0.6)
  });

  it('takes forgetting from the best earlier stage, BWT from the stage the task arrived', () => {
    const s = summarizeContinual([[0.5], [0.7, 0.6], [0.6, 0.6, 0.7]]);
    expect(s.forgetting[0]).toBeCloseTo(0.1, 12); // peak 0.7 at stage 1, not 0.5 at arrival
    expect(s.forgetting[1]).toBeCloseTo(0, 12);
    expect(s.bwt).toBeCloseTo(0.05, 12); // (0.6 − 0.5 + 0.6 − 0.6) / 2: positive transfer
  });

  it('reports a learner that never forgets as 0 forgetting and 0 BWT', () => {
    const s = summarizeContinual([[0.8], [0.8, 0.6], [0.8, 0.6, 0.7]]);
    expect(s.avgForgetting).toBe(0);
    expect(s.bwt).toBe(0);
  });

  it('has no forgetting or BWT after one stage (null, not 0)', () => {
    const s = summarizeContinual([[0.4]]);
    expect(s.avgIou).toBe(0.4);
    expect(s.forgetting).toEqual([]);
    expect(s.avgForgetting).toBeNull();
    expect(s.bwt).toBeNull();
  });

  it('rejects matrices that are not lower-triangular or hold non-finite values', () => {
    expect(() => summarizeContinual([])).toThrow(ContinualMetricsError);
    expect(() => summarizeContinual([[0.5, 0.4]])).toThrow(/stage 0 has 2 values/);
    expect(() => summarizeContinual([[0.5], [NaN, 0.2]])).toThrow(/a\[1\]\[0\] is NaN/);
  });
});

describe('spreadOf', () => {
  it('gives mean, min, max and the sample standard deviation', () => {
    const s = spreadOf([0.1, 0.3, 0.2])!;
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.2, 12);
    expect(s.min).toBe(0.1);
    expect(s.max).toBe(0.3);
    expect(s.std).toBeCloseTo(0.1, 12);
  });

  it('ignores nulls and non-finite values; null when nothing is left', () => {
    expect(spreadOf([0.5, null, NaN])).toEqual({ n: 1, mean: 0.5, min: 0.5, max: 0.5, std: 0 });
    expect(spreadOf([null])).toBeNull();
  });
});

describe('matrixByTask', () => {
  it('moves arrival-order columns to fixed task columns, null before a task arrives', () => {
    const out = matrixByTask([[0.1], [0.2, 0.3]], ['b', 'a', 'c'], ['a', 'b', 'c']);
    expect(out).toEqual([
      [null, 0.1, null],
      [0.3, 0.2, null],
    ]);
  });
});
