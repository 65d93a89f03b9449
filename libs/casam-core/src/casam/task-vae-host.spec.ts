import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { toFloat32 } from '../tensor/host-tensor';
import { createRng, normalArray } from '../random/seeded-random';
import { useBackend } from './casam-fixtures.testing';
import { createAdam } from './adam-optimizer';
import { createTaskVae, initialTaskVaeStateDict } from './task-vae';
import { createHostVaeTrainer } from './task-vae-host';

/**
 * The typed-array trainer against the TF.js model it replaces in trainTaskVae: the same initial weights, batches
 * and noise through TaskVae.loss + createAdam (the reference) and through createHostVaeTrainer.
 */
describe('TaskVAE host trainer', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it.each([64, 256])('C=%i: step losses, weights and Adam moments follow TF.js + createAdam', (c) => {
    const n = 14;
    const x = normalArray(n * c, createRng(5)).map((v, i) => v + (i % 3) * 0.5);
    const init = initialTaskVaeStateDict(c, 9);
    const lr = 5e-3; // larger than the default so that 20 steps move the weights visibly
    const ref = createTaskVae({ inputDim: c, stateDict: init });
    const adam = createAdam(ref.namedVariables(), { lr });
    const host = createHostVaeTrainer(c, init, { lr, beta: ref.beta });
    const xt = tf.tensor2d(x, [n, c]);
    const batches = [
      [0, 1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10, 11],
      [12, 13],
    ];
    let worstLoss = 0;
    for (let s = 0; s < 20; s++) {
      const idx = batches[s % 3];
      const batch = tf.gather(xt, tf.tensor1d(idx, 'int32')) as tf.Tensor2D;
      const want = adam.minimize(() => ref.loss(batch, createRng(100 + s)));
      batch.dispose();
      const got = host.step(x, idx, createRng(100 + s));
      worstLoss = Math.max(worstLoss, Math.abs(got - want) / Math.abs(want));
    }
    expect(worstLoss).toBeLessThan(1e-5);
    const diff = (a: Float32Array, b: Float32Array): number =>
      a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const got = host.stateDict();
    const want = ref.stateDict();
    let moved = 0;
    for (const [k, v] of want) {
      expect(diff(toFloat32(got.get(k)!), toFloat32(v)), k).toBeLessThan(2e-5);
      moved = Math.max(moved, diff(toFloat32(v), toFloat32(init.get(k)!)));
    }
    expect(moved).toBeGreaterThan(1e-2); // the comparison is not between two untouched copies
    const gotOpt = host.optimizerStateDict();
    for (const [k, v] of adam.stateDict()) {
      expect(gotOpt.get(k)?.shape, k).toEqual(v.shape);
      const scale = Math.max(1e-12, ...toFloat32(v).map(Math.abs));
      expect(diff(toFloat32(gotOpt.get(k)!), toFloat32(v)) / scale, k).toBeLessThan(1e-3);
    }
    tf.dispose(xt);
    adam.dispose();
    ref.dispose();
  });

  it('refuses to update on a non-finite loss', () => {
    const c = 64;
    const host = createHostVaeTrainer(c, initialTaskVaeStateDict(c, 1), { lr: 1e-3, beta: 16.5 });
    const x = new Float32Array(2 * c).fill(Number.NaN);
    const before = host.stateDict();
    expect(() => host.step(x, [0, 1], createRng(1))).toThrow(/loss is NaN; not updating/);
    const after = host.stateDict();
    for (const [k, v] of before) expect(toFloat32(after.get(k)!)).toEqual(toFloat32(v));
  });
});
