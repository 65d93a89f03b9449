import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { StateDict, float32Tensor } from '../tensor/host-tensor';
import { loadFixture, maxAbsDiff } from '../testing/fixtures';
import {
  AlignmentInputError,
  AlignmentLayer,
  IDENTITY_ALIGNMENT,
  createAlignmentLayer,
  initialAlignmentStateDict,
} from './align-layer';
import { alignmentStateDictSpec, ecaKernelSize, specParameterCount } from './casam-shapes';
import { CASAM_WEIGHTS, VITB_GOLDEN, golden, goldenTf, useBackend } from './casam-fixtures.testing';
import { CasamStateDictError, stripPrefix } from './state-dict-check';

/** Gradients of the 8×8 loss below by variable name, from the first backend run, to compare the next against. */
const reference = new Map<string, Float32Array>();

const TAPS = ['conv1', 'conv2', 'eca_pool', 'eca_conv', 'eca_weight', 'block_out', 'after_norm'];

describe('alignment layer sizes', () => {
  it('ECA kernel size follows the spec rule', () => {
    expect(ecaKernelSize(64)).toBe(3);
    expect(ecaKernelSize(256)).toBe(5);
    expect(ecaKernelSize(16)).toBe(3); // t = 2 → even → 3
    expect(ecaKernelSize(1)).toBe(1);
  });

  it('C=256 has 3,541,007 parameters', async () => {
    await useBackend('cpu');
    expect(specParameterCount(alignmentStateDictSpec(256))).toBe(3_541_007);
    const al = createAlignmentLayer({ channels: 256, seed: 1 });
    expect(al.parameterCount()).toBe(3_541_007);
    expect(al.variables.reduce((n, v) => n + v.size, 0)).toBe(3_541_007);
    al.dispose();
  });
});

describe.each(['cpu', 'wasm'] as const)('alignment layer on %s', (backend) => {
  let al64: AlignmentLayer;
  beforeAll(async () => {
    await useBackend(backend);
    al64 = createAlignmentLayer({
      channels: 64,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'align64.'),
    });
  });
  afterAll(() => al64.dispose());

  it('align64: every block intermediate and the output match the reference', () => {
    const x = goldenTf('align64.input') as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const taps = new Map<string, Float32Array>();
    const y = al64.forward(x, {
      tap: (n, t) => taps.set(n, Float32Array.from(t.dataSync() as Float32Array)),
    });
    const diffs: string[] = [];
    for (let b = 0; b < 3; b++)
      for (const t of TAPS) {
        const name = `block${b}.${t}`;
        const d = maxAbsDiff(taps.get(name)!, golden(`align64.${name}`));
        diffs.push(`${name} ${d.toExponential(1)}`);
        expect(d, name).toBeLessThan(1e-5);
      }
    expect(y.shape).toEqual([1, 64, 16, 16]);
    const d = maxAbsDiff(y.dataSync(), golden('align64.output'));
    console.log(`[${backend}] align64 output max abs diff ${d.toExponential(2)}; ${diffs.join(', ')}`);
    expect(d).toBeLessThan(1e-5);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('NHWC input gives the same result as NCHW', () => {
    const x = goldenTf('align64.input') as tf.Tensor4D;
    const xh = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
    const a = al64.forward(x);
    const b = al64.forward(xh, { layout: 'NHWC' });
    expect(b.shape).toEqual([1, 16, 16, 64]);
    const bt = tf.transpose(b, [0, 3, 1, 2]);
    expect(maxAbsDiff(a.dataSync(), bt.dataSync())).toBe(0);
    tf.dispose([x, xh, a, b, bt]);
  });

  it('a batch of two gives each image its own ECA gate', () => {
    const x = goldenTf('align64.input') as tf.Tensor4D;
    const x2 = tf.concat([x, tf.mul(x, 0.5)], 0) as tf.Tensor4D;
    const y = al64.forward(x2);
    const first = tf.slice(y, [0, 0, 0, 0], [1, 64, 16, 16]);
    expect(maxAbsDiff(first.dataSync(), golden('align64.output'))).toBeLessThan(1e-5);
    const single = al64.forward(tf.slice(x2, [1, 0, 0, 0], [1, 64, 16, 16]) as tf.Tensor4D);
    const second = tf.slice(y, [1, 0, 0, 0], [1, 64, 16, 16]);
    expect(maxAbsDiff(second.dataSync(), single.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, x2, y, first, single, second]);
  });

  it('gradients reach every variable (finite, non-zero) without leaking', () => {
    // Small spatial size keeps this quick; the loss weights every output differently so no gradient cancels.
    const x = tf.tidy(() => tf.slice(goldenTf('align64.input'), [0, 0, 0, 0], [1, 64, 8, 8])) as tf.Tensor4D;
    const wts = tf.tidy(() => tf.sin(tf.reshape(tf.range(0, 64 * 64, 1, 'float32'), [1, 64, 8, 8])));
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => tf.sum(tf.mul(al64.forward(x), wts)) as tf.Scalar),
      [...al64.variables],
    );
    expect(Object.keys(grads)).toHaveLength(al64.variables.length);
    for (const [name, v] of al64.namedVariables()) {
      const g = grads[v.name];
      expect(g, name).toBeDefined();
      expect(g.shape, name).toEqual(v.shape);
      const d = Float32Array.from(g.dataSync() as Float32Array);
      expect(d.every(Number.isFinite), name).toBe(true);
      expect(
        d.some((q) => q !== 0),
        name,
      ).toBe(true);
      // The second backend must agree with the first (wasm's added Conv2DBackpropFilter vs the cpu kernel).
      const ref = reference.get(name);
      if (!ref) reference.set(name, d);
      else {
        const scale = Math.max(1e-3, ...ref.map(Math.abs));
        expect(maxAbsDiff(d, ref) / scale, name).toBeLessThan(1e-4);
      }
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, wts]);
  });
});

describe('alignment layer C=256 on wasm', () => {
  it('output borders, per-pixel channel sum and L2, channel means and every ECA gate match', async () => {
    await useBackend('wasm');
    const al = createAlignmentLayer({
      channels: 256,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'align256.'),
    });
    const x = goldenTf('image_embeddings', VITB_GOLDEN) as tf.Tensor4D;
    const taps = new Map<string, Float32Array>();
    const keep = new Set(
      ['eca_pool', 'eca_conv', 'eca_weight'].flatMap((t) => [0, 1, 2].map((b) => `block${b}.${t}`)),
    );
    const y = al.forward(x, {
      tap: (n, t) => {
        if (keep.has(n)) taps.set(n, Float32Array.from(t.dataSync() as Float32Array));
      },
    });
    const got = tf.tidy(() => ({
      rows0: tf.slice(y, [0, 0, 0, 0], [1, 256, 8, 64]).dataSync(),
      rows56: tf.slice(y, [0, 0, 56, 0], [1, 256, 8, 64]).dataSync(),
      mean: tf.mean(y, [2, 3]).dataSync(),
      sum: tf.sum(y, 1).dataSync(),
      l2: tf.sqrt(tf.sum(tf.square(y), 1)).dataSync(),
    }));
    const diffs = {
      output_rows_0_7: maxAbsDiff(got.rows0, golden('align256.output_rows_0_7')),
      output_rows_56_63: maxAbsDiff(got.rows56, golden('align256.output_rows_56_63')),
      output_mean_hw: maxAbsDiff(got.mean, golden('align256.output_mean_hw')),
      output_sum_c: maxAbsDiff(got.sum, golden('align256.output_sum_c')),
      output_l2_c: maxAbsDiff(got.l2, golden('align256.output_l2_c')),
    };
    console.log('[wasm] align256', JSON.stringify(diffs));
    expect(diffs.output_rows_0_7).toBeLessThan(1e-5 * 16);
    expect(diffs.output_rows_56_63).toBeLessThan(1e-5 * 16);
    expect(diffs.output_mean_hw).toBeLessThan(1e-5);
    expect(diffs.output_sum_c).toBeLessThan(1e-3); // a sum of 256 values up to ~16
    expect(diffs.output_l2_c).toBeLessThan(1e-4);
    for (const n of keep) expect(maxAbsDiff(taps.get(n)!, golden(`align256.${n}`)), n).toBeLessThan(1e-5);
    tf.dispose([x, y]);
    al.dispose();
  });
});

describe('alignment layer weights', () => {
  beforeAll(() => useBackend('cpu'));

  it('stateDict returns the loaded fixture weights bit-exactly, in PyTorch names and order', () => {
    const sd = stripPrefix(loadFixture(CASAM_WEIGHTS), 'align64.');
    const al = createAlignmentLayer({ channels: 64, stateDict: sd });
    const out = al.stateDict();
    expect([...out.keys()]).toEqual(alignmentStateDictSpec(64).map((s) => s.name));
    expect([...out.keys()]).toEqual([...sd.keys()]);
    for (const [k, t] of out) {
      expect(t.shape, k).toEqual(sd.get(k)!.shape);
      expect(
        Buffer.from((t.data as Float32Array).buffer).equals(
          Buffer.from((sd.get(k)!.data as Float32Array).buffer),
        ),
        k,
      ).toBe(true);
    }
    al.dispose();
  });

  it('loadStateDict replaces the weights and rejects a state dict that does not fit, changing nothing', () => {
    const al = createAlignmentLayer({ channels: 64, seed: 3 });
    const fresh = al.stateDict();
    const good = stripPrefix(loadFixture(CASAM_WEIGHTS), 'align64.');
    const bad: StateDict = new Map(good);
    bad.delete('blocks.1.conv2.bias');
    bad.set('blocks.0.eca.weight', float32Tensor([1, 1, 5]));
    bad.set('extra', float32Tensor([1]));
    bad.set('norm.bias', float32Tensor([64], new Float32Array(64).fill(NaN)));
    let err: unknown;
    try {
      al.loadStateDict(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CasamStateDictError);
    const msg = (err as Error).message;
    expect(msg).toContain('missing tensor blocks.1.conv2.bias');
    expect(msg).toContain('blocks.0.eca.weight: shape [1,1,5] where [1,1,3] is expected');
    expect(msg).toContain('unexpected tensor extra');
    expect(msg).toContain('norm.bias: 64 NaN/Inf values');
    expect(
      maxAbsDiff(
        al.stateDict().get('blocks.0.conv1.weight')!.data as Float32Array,
        fresh.get('blocks.0.conv1.weight')!.data as Float32Array,
      ),
    ).toBe(0);
    al.loadStateDict(good);
    expect(
      maxAbsDiff(
        al.stateDict().get('norm.weight')!.data as Float32Array,
        good.get('norm.weight')!.data as Float32Array,
      ),
    ).toBe(0);
    al.dispose();
  });

  it('initialisation is seeded and follows the PyTorch defaults', () => {
    const a = initialAlignmentStateDict(64, 7);
    const b = initialAlignmentStateDict(64, 7);
    const c = initialAlignmentStateDict(64, 8);
    const w = a.get('blocks.0.conv1.weight')!.data as Float32Array;
    expect(maxAbsDiff(w, b.get('blocks.0.conv1.weight')!.data as Float32Array)).toBe(0);
    expect(maxAbsDiff(w, c.get('blocks.0.conv1.weight')!.data as Float32Array)).toBeGreaterThan(0);
    const bound = 1 / Math.sqrt(64 * 9);
    let maxAbs = 0;
    let sumSq = 0;
    for (const v of w) {
      maxAbs = Math.max(maxAbs, Math.abs(v));
      sumSq += v * v;
    }
    expect(maxAbs).toBeLessThanOrEqual(bound);
    expect(Math.sqrt(sumSq / w.length)).toBeCloseTo(bound / Math.sqrt(3), 3); // std of U(±b) is b/√3
    const eca = a.get('blocks.2.eca.weight')!.data as Float32Array;
    expect(eca.every((v) => Math.abs(v) <= 1 / Math.sqrt(3))).toBe(true);
    expect([...(a.get('norm.weight')!.data as Float32Array)].every((v) => v === 1)).toBe(true);
    expect([...(a.get('norm.bias')!.data as Float32Array)].every((v) => v === 0)).toBe(true);
  });

  it('rejects inputs it cannot run on', () => {
    const al = createAlignmentLayer({ channels: 64 });
    const wrongC = tf.zeros([1, 32, 4, 4]) as tf.Tensor4D;
    const rank3 = tf.zeros([64, 4, 4]) as unknown as tf.Tensor4D;
    const ints = tf.zeros([1, 64, 4, 4], 'int32') as tf.Tensor4D;
    expect(() => al.forward(wrongC)).toThrow(AlignmentInputError);
    expect(() => al.forward(wrongC)).toThrow(/32 channels/);
    expect(() => al.forward(rank3)).toThrow(/rank 4/);
    expect(() => al.forward(ints)).toThrow(/float32/);
    expect(() => createAlignmentLayer({ channels: 0 })).toThrow(/channels must be an integer/);
    al.dispose();
    expect(() => al.forward(tf.zeros([1, 64, 4, 4]) as tf.Tensor4D)).toThrow(/disposed/);
    tf.dispose([wrongC, rank3, ints]);
  });

  it('the identity transform returns a new tensor with the same values', () => {
    const x = goldenTf('align64.input') as tf.Tensor4D;
    const y = IDENTITY_ALIGNMENT.forward(x);
    expect(IDENTITY_ALIGNMENT.kind).toBe('identity');
    expect(y).not.toBe(x);
    expect(maxAbsDiff(y.dataSync(), x.dataSync())).toBe(0);
    y.dispose();
    expect(x.isDisposed).toBe(false);
    x.dispose();
  });
});
