import { describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { loadFixture, maxAbsDiff } from '../testing/fixtures';
import { createAlignmentLayer } from './align-layer';
import { AttentionPoolInputError, attentionPool, attentionPoolDetailed } from './attention-pool';
import { CASAM_WEIGHTS, VITB_GOLDEN, golden, goldenTf, useBackend } from './casam-fixtures.testing';
import { stripPrefix } from './state-dict-check';

function check(
  backend: string,
  z: tf.Tensor4D,
  key: string,
  atol: { s: number; a: number; f: number },
): void {
  const before = tf.memory().numTensors;
  const { s, a, f } = attentionPoolDetailed(z);
  const d = {
    s: maxAbsDiff(s.dataSync(), golden(`${key}.s`)),
    a: maxAbsDiff(a.dataSync(), golden(`${key}.a`)),
    f: maxAbsDiff(f.dataSync(), golden(`${key}.f`)),
  };
  console.log(
    `[${backend}] ${key} max abs diff s ${d.s.toExponential(1)} a ${d.a.toExponential(1)} f ${d.f.toExponential(1)}`,
  );
  expect(s.shape).toEqual([1, z.shape[2], z.shape[3]]);
  expect(f.shape).toEqual([1, z.shape[1]]);
  expect(d.s).toBeLessThan(atol.s);
  expect(d.a).toBeLessThan(atol.a);
  expect(d.f).toBeLessThan(atol.f);
  tf.dispose([s, a, f]);
  expect(tf.memory().numTensors).toBe(before);
}

describe.each(['cpu', 'wasm'] as const)('attention pooling on %s', (backend) => {
  it('pool64 raw and aligned match the reference', async () => {
    await useBackend(backend);
    const z = goldenTf('align64.input') as tf.Tensor4D;
    check(backend, z, 'pool64.raw', { s: 1e-6, a: 1e-7, f: 1e-6 });
    const al = createAlignmentLayer({
      channels: 64,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'align64.'),
    });
    const y = al.forward(z);
    check(backend, y, 'pool64.aligned', { s: 1e-6, a: 1e-7, f: 1e-5 });
    // The golden aligned output as input isolates pooling from the alignment layer's own rounding.
    const yg = goldenTf('align64.output') as tf.Tensor4D;
    check(backend, yg, 'pool64.aligned', { s: 1e-6, a: 1e-7, f: 1e-6 });
    tf.dispose([z, y, yg]);
    al.dispose();
  });

  it('pool256 raw matches the reference', async () => {
    await useBackend(backend);
    const z = goldenTf('image_embeddings', VITB_GOLDEN) as tf.Tensor4D;
    check(backend, z, 'pool256.raw', { s: 1e-6, a: 1e-8, f: 1e-6 });
    z.dispose();
  });

  it('NHWC layout, batching and the f-only variant agree', async () => {
    await useBackend(backend);
    const z = goldenTf('align64.input') as tf.Tensor4D;
    const zz = tf.concat([z, tf.mul(z, -2)], 0) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const f = attentionPool(zz);
    const fh = tf.tidy(() =>
      attentionPool(tf.transpose(zz, [0, 2, 3, 1]) as tf.Tensor4D, { layout: 'NHWC' }),
    );
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(f.shape).toEqual([2, 64]);
    expect(maxAbsDiff(f.dataSync(), fh.dataSync())).toBeLessThan(1e-6);
    expect(maxAbsDiff(f.dataSync().slice(0, 64), golden('pool64.raw.f'))).toBeLessThan(1e-6);
    // The attention weights of image 2 differ from image 1 (‖−2z‖ = 2‖z‖ sharpens the softmax), so f is not −2·f1.
    const { a } = attentionPoolDetailed(zz);
    const av = a.dataSync();
    let s0 = 0;
    let s1 = 0;
    for (let i = 0; i < 256; i++) {
      s0 += av[i];
      s1 += av[256 + i];
    }
    expect(s0).toBeCloseTo(1, 5);
    expect(s1).toBeCloseTo(1, 5);
    tf.dispose([z, zz, f, fh, a]);
  });
});

describe('attention pooling after the C=256 Alignment Layer', () => {
  it('pool256 aligned (after the C=256 Alignment Layer) matches the reference', async () => {
    await useBackend('wasm');
    // wasm only: the full 64×64×256 alignment forward takes ~1.5 s there and ~20× longer on cpu.
    const z = goldenTf('image_embeddings', VITB_GOLDEN) as tf.Tensor4D;
    const al = createAlignmentLayer({
      channels: 256,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'align256.'),
    });
    const y = al.forward(z);
    check('wasm', y, 'pool256.aligned', { s: 1e-6, a: 1e-8, f: 1e-5 });
    tf.dispose([z, y]);
    al.dispose();
  });
});

describe('attention pooling input checks', () => {
  it('names the problem', async () => {
    await useBackend('cpu');
    const z = tf.zeros([1, 4, 2, 2]) as tf.Tensor4D;
    expect(() => attentionPool(tf.zeros([4, 2, 2]) as unknown as tf.Tensor4D)).toThrow(
      AttentionPoolInputError,
    );
    expect(() => attentionPool(z, { temperature: 0 })).toThrow(/temperature/);
    expect(() => attentionPool(tf.zeros([1, 4, 0, 2]) as tf.Tensor4D)).toThrow(/empty/);
    expect(() => attentionPool(tf.zeros([1, 4, 2, 2], 'int32') as tf.Tensor4D)).toThrow(/float32/);
    // A uniform map pools to the plain mean.
    const u = tf.tidy(() =>
      tf.add(tf.zeros([1, 3, 2, 2]), tf.reshape(tf.tensor1d([1, 2, 3]), [1, 3, 1, 1])),
    ) as tf.Tensor4D;
    const f = attentionPool(u);
    expect(maxAbsDiff(f.dataSync(), [1, 2, 3])).toBeLessThan(1e-6);
    tf.dispose([z, u, f]);
  });
});
