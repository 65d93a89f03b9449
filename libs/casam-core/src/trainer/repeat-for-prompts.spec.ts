import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../casam/casam-fixtures.testing';
import { ensureGradients, tf } from '../sam/tf';
import { repeatForPrompts } from './al-trainer';

describe('repeatForPrompts', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  const promptImage = (prompts: number, images: number): tf.Tensor2D =>
    tf.tensor2d(
      Float32Array.from({ length: prompts * images }, (_, k) =>
        Math.floor(k / images / (prompts / images)) === k % images ? 1 : 0,
      ),
      [prompts, images],
    );

  it('copies each image for its prompts exactly, as a gather does, and sums their gradients per image', () => {
    const y = tf.randomNormal([3, 4, 2, 2], 0, 1, 'float32', 7) as tf.Tensor4D;
    const sel = promptImage(6, 3);
    const idx = tf.tensor1d([0, 0, 1, 1, 2, 2], 'int32');
    const dy = tf.randomNormal([6, 4, 2, 2], 0, 1, 'float32', 8);
    const got = repeatForPrompts(y, sel);
    expect(got.shape).toEqual([6, 4, 2, 2]);
    expect(Array.from(got.dataSync())).toEqual(Array.from(tf.gather(y, idx).dataSync()));
    ensureGradients();
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(repeatForPrompts(x as tf.Tensor4D, sel), dy)))(y);
    const want = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, idx), dy)))(y);
    const [a, b] = [g.dataSync(), want.dataSync()];
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
    tf.dispose([y, sel, idx, dy, got, g, want]);
  });

  it('refuses a selection made for another number of images', () => {
    const y = tf.zeros([2, 1, 1, 1]) as tf.Tensor4D;
    const sel = promptImage(6, 3);
    expect(() => repeatForPrompts(y, sel)).toThrow(/does not fit 2 images/);
    tf.dispose([y, sel]);
  });
});
