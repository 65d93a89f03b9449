import { describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { maxAbsDiff } from '../testing/fixtures';
import { AdamError, createAdam } from './adam-optimizer';
import { useBackend } from './casam-fixtures.testing';

/** PyTorch's Adam on f(p) = Σ p² in float64, written out scalar by scalar. */
function reference(p0: number[], lr: number, steps: number): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  for (let t = 1; t <= steps; t++)
    for (let i = 0; i < p.length; i++) {
      const g = 2 * p[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const mh = m[i] / (1 - 0.9 ** t);
      const vh = v[i] / (1 - 0.999 ** t);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
    }
  return p;
}

// cpu updates on the host, other backends with tf ops: both must follow the same rule.
describe.each(['cpu', 'wasm'] as const)('Adam on %s', (backend) => {
  it('follows the PyTorch update rule and resumes exactly from its state dict', async () => {
    await useBackend(backend);
    const start = [1, -2, 0.5];
    const x = tf.variable(tf.tensor1d(start));
    const opt = createAdam(new Map([['p', x]]), { lr: 0.1 });
    const before = tf.memory().numTensors;
    const loss = (): tf.Scalar => tf.sum(tf.square(x));
    const first = opt.minimize(loss);
    expect(first).toBeCloseTo(5.25, 5);
    for (let i = 1; i < 5; i++) opt.minimize(loss);
    expect(tf.memory().numTensors).toBe(before);
    expect(opt.stepCount).toBe(5);
    expect(maxAbsDiff(x.dataSync(), reference(start, 0.1, 5))).toBeLessThan(1e-6);

    // A second optimizer loaded with the first one's state continues identically.
    const state = opt.stateDict();
    expect([...state.keys()]).toEqual(['step', 'exp_avg.p', 'exp_avg_sq.p']);
    const y = tf.variable(tf.clone(x));
    const opt2 = createAdam(new Map([['p', y]]), { lr: 0.1 });
    opt2.loadStateDict(state);
    for (let i = 0; i < 3; i++) {
      opt.minimize(loss);
      opt2.minimize(() => tf.sum(tf.square(y)));
    }
    expect(maxAbsDiff(x.dataSync(), y.dataSync())).toBe(0);
    expect(maxAbsDiff(x.dataSync(), reference(start, 0.1, 8))).toBeLessThan(1e-6);
    expect(() => opt2.loadStateDict(new Map([['step', state.get('step')!]]))).toThrow(/missing exp_avg.p/);
    opt.dispose();
    opt2.dispose();
    x.dispose();
    y.dispose();
  });

  it('clips the global gradient norm and takes a per-step learning rate (the pretraining schedule)', async () => {
    await useBackend(backend);
    const x = tf.variable(tf.tensor1d([3, -4]));
    const opt = createAdam(new Map([['p', x]]), { lr: 1, clipNorm: 5 });
    const g = tf.tensor1d([30, -40]); // norm 50: scaled to [3, -4]
    const norm = opt.applyGradientsAt(new Map([['p', g]]), 0.01);
    expect(norm.dataSync()[0]).toBeCloseTo(50, 4);
    // First Adam step moves each weight by lr·sign(g) whatever the scale; the moments hold the clipped gradient.
    expect(maxAbsDiff(x.dataSync(), [2.99, -3.99])).toBeLessThan(1e-6);
    const sd = opt.stateDict();
    expect(maxAbsDiff(sd.get('exp_avg.p')!.data as Float32Array, [0.3, -0.4])).toBeLessThan(1e-6);
    // Under the limit nothing is scaled; lr 0 (a schedule's first warm-up step could be) moves nothing.
    const small = tf.tensor1d([0.3, 0.4]);
    opt.applyGradientsAt(new Map([['p', small]]), 0).dispose();
    expect(maxAbsDiff(x.dataSync(), [2.99, -3.99])).toBeLessThan(1e-6);
    expect(maxAbsDiff(opt.stateDict().get('exp_avg.p')!.data as Float32Array, [0.3, -0.32])).toBeLessThan(
      1e-6,
    );
    expect(() => opt.applyGradientsAt(new Map([['p', small]]), NaN)).toThrow(/learning rate/);
    expect(() => createAdam(new Map([['p', x]]), { lr: 1, clipNorm: -1 })).toThrow(/clipNorm/);
    tf.dispose([norm, g, small]);
    opt.dispose();
    x.dispose();
  });

  it('rejects bad settings and a non-finite loss', async () => {
    await useBackend(backend);
    const x = tf.variable(tf.tensor1d([1]));
    const vars = new Map([['p', x]]);
    expect(() => createAdam(vars, { lr: 0 })).toThrow(AdamError);
    expect(() => createAdam(vars, { lr: 1e-3, beta1: 1 })).toThrow(/betas/);
    expect(() => createAdam(new Map(), { lr: 1e-3 })).toThrow(/no variables/);
    const opt = createAdam(vars, { lr: 1e-3 });
    expect(() => opt.minimize(() => tf.div(tf.sum(x), 0) as tf.Scalar)).toThrow(/loss is Infinity/);
    expect(x.dataSync()[0]).toBe(1);
    opt.dispose();
    x.dispose();
  });
});
