import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { initBackend } from './backends';

/** Deterministic pseudo-random values in [-scale, scale). */
function rand(shape: number[], seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 31 - 1) * scale;
  }
  return v;
}

interface Spec {
  shape: number[];
  scale?: number;
}

/** Loss value and gradients w.r.t. every input, computed on `backend`. */
async function gradsOn(
  backend: string,
  specs: Spec[],
  loss: (...xs: tf.Tensor[]) => tf.Scalar,
): Promise<{ value: number; grads: Float32Array[] }> {
  await tf.setBackend(backend);
  const xs = specs.map((s, i) => tf.tensor(rand(s.shape, 1000 + 17 * i, s.scale ?? 1), s.shape));
  const { value, grads } = tf.valueAndGrads((...args: tf.Tensor[]) => loss(...args))(xs);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => Float32Array.from(g.dataSync())) };
  tf.dispose([value, ...grads, ...xs]);
  return out;
}

function expectClose(actual: Float32Array, expected: Float32Array, rel = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1e-3;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst / scale).toBeLessThanOrEqual(rel);
}

async function expectSameGrads(specs: Spec[], loss: (...xs: tf.Tensor[]) => tf.Scalar): Promise<void> {
  const cpu = await gradsOn('cpu', specs, loss);
  const wasm = await gradsOn('wasm', specs, loss);
  expect(Math.abs(wasm.value - cpu.value)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(cpu.value)));
  wasm.grads.forEach((g, i) => expectClose(g, cpu.grads[i]));
}

const t4 = (t: tf.Tensor): tf.Tensor4D => t as tf.Tensor4D;
/** A fixed random weighting so every output element gets a distinct gradient. */
const weighted = (y: tf.Tensor, seed = 7): tf.Scalar =>
  tf.sum(tf.mul(y, tf.tensor(rand(y.shape, seed), y.shape)));
const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const c = tf.sub(x, mean);
  const variance = tf.mean(tf.square(c), -1, true);
  return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(variance, 1e-6))), g), b);
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: () => undefined });
});

describe('end-to-end training gradients: wasm equals cpu', () => {
  it('variableGrads of conv2d 3×3 → relu → conv2d → conv2dTranspose → resizeBilinear → mean', async () => {
    const run = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const x = tf.tensor(rand([2, 12, 12, 3], 1), [2, 12, 12, 3]) as tf.Tensor4D;
      const target = tf.tensor(rand([2, 24, 24, 2], 2), [2, 24, 24, 2]);
      const vars = {
        w1: tf.variable(tf.tensor(rand([3, 3, 3, 8], 3, 0.5), [3, 3, 3, 8]), true, `w1_${backend}`),
        b1: tf.variable(tf.tensor(rand([8], 4, 0.1), [8]), true, `b1_${backend}`),
        w2: tf.variable(tf.tensor(rand([3, 3, 8, 8], 5, 0.3), [3, 3, 8, 8]), true, `w2_${backend}`),
        // conv2dTranspose filter: [kh, kw, outChannels, inChannels]
        w3: tf.variable(tf.tensor(rand([2, 2, 4, 8], 6, 0.3), [2, 2, 4, 8]), true, `w3_${backend}`),
        w4: tf.variable(tf.tensor(rand([1, 1, 4, 2], 7, 0.5), [1, 1, 4, 2]), true, `w4_${backend}`),
      };
      const { value, grads } = tf.variableGrads(() => {
        let h = tf.relu(tf.add(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, 'same'), vars.b1)) as tf.Tensor4D;
        h = tf.conv2d(h, vars.w2 as tf.Tensor4D, 2, 'same'); // [2, 6, 6, 8]
        h = tf.conv2dTranspose(h, vars.w3 as tf.Tensor4D, [2, 12, 12, 4], 2, 'valid');
        h = tf.image.resizeBilinear(h, [24, 24], false, true);
        h = tf.conv2d(h, vars.w4 as tf.Tensor4D, 1, 'valid');
        return tf.mean(tf.square(tf.sub(h, target)));
      });
      const out = [Float32Array.of(value.dataSync()[0])];
      for (const v of Object.values(vars)) out.push(Float32Array.from(grads[v.name].dataSync()));
      tf.dispose([value, x, target, ...Object.values(grads), ...Object.values(vars)]);
      return out;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expect(wasm.length).toBe(cpu.length);
    wasm.forEach((g, i) => expectClose(g, cpu[i]));
    // the gradients are not trivially zero
    for (const g of cpu.slice(1)) expect(g.some((v) => Math.abs(v) > 1e-6)).toBe(true);
  });
});

describe('gradients of common ops: wasm equals cpu', () => {
  const cases: [string, Spec[], (...xs: tf.Tensor[]) => tf.Scalar][] = [
    [
      'conv2d 3×3 pad 1',
      [{ shape: [2, 7, 7, 3] }, { shape: [3, 3, 3, 4] }],
      (x, w) => weighted(tf.conv2d(t4(x), t4(w), 1, 1)),
    ],
    [
      'conv2d 2×2 stride 2',
      [{ shape: [1, 8, 6, 3] }, { shape: [2, 2, 3, 5] }],
      (x, w) => weighted(tf.conv2d(t4(x), t4(w), 2, 'valid')),
    ],
    [
      'conv2dTranspose stride 2 same',
      [{ shape: [2, 4, 5, 6] }, { shape: [3, 3, 3, 6] }],
      (x, w) => weighted(tf.conv2dTranspose(t4(x), t4(w), [2, 8, 10, 3], 2, 'same')),
    ],
    [
      'conv1d (via conv2d)',
      [{ shape: [2, 16, 3] }, { shape: [5, 3, 4] }],
      (x, w) => weighted(tf.conv1d(x as tf.Tensor3D, w as tf.Tensor3D, 2, 'same')),
    ],
    [
      'depthwiseConv2d multiplier 2',
      [{ shape: [2, 7, 7, 3] }, { shape: [3, 3, 3, 2] }],
      (x, w) => weighted(tf.depthwiseConv2d(t4(x), t4(w), 1, 'same')),
    ],
    [
      'separableConv2d stride 2',
      [{ shape: [1, 8, 8, 3] }, { shape: [3, 3, 3, 1] }, { shape: [1, 1, 3, 4] }],
      (x, d, p) => weighted(tf.separableConv2d(t4(x), t4(d), t4(p), 2, 'same')),
    ],
    [
      'matMul',
      [{ shape: [9, 20] }, { shape: [20, 7] }],
      (a, b) => weighted(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)),
    ],
    [
      'batched matMul with transposeB (attention)',
      [{ shape: [2, 3, 40, 32] }, { shape: [2, 3, 48, 32] }],
      (q, k) => weighted(tf.matMul(q, k, false, true)),
    ],
    [
      // (tfjs-core's matMul gradient does not reduce broadcast batch dims: flatten to 2-D as layers.ts does)
      'dense layer: [b·n, c] × [c, d]',
      [{ shape: [4, 50, 64] }, { shape: [64, 40] }],
      (x, w) => weighted(tf.matMul(tf.reshape(x, [200, 64]), w)),
    ],
    ['softmax', [{ shape: [4, 10] }], (x) => weighted(tf.softmax(x))],
    ['logSoftmax', [{ shape: [4, 10] }], (x) => weighted(tf.logSoftmax(x))],
    ['gelu (erf composition)', [{ shape: [3, 17] }], (x) => weighted(gelu(x))],
    [
      'layer norm composition',
      [{ shape: [3, 5, 16] }, { shape: [16] }, { shape: [16] }],
      (x, g, b) => weighted(layerNorm(x, g, b)),
    ],
    ['relu', [{ shape: [40] }], (x) => weighted(tf.relu(x))],
    ['sigmoid / tanh', [{ shape: [40] }], (x) => weighted(tf.add(tf.sigmoid(x), tf.tanh(x)))],
    [
      'mean / max / min',
      [{ shape: [4, 9] }],
      (x) => weighted(tf.add(tf.mean(x, 1), tf.add(tf.max(x, 1), tf.min(x, 1)))),
    ],
    [
      'resizeBilinear (half-pixel and align-corners), non-square',
      [{ shape: [2, 5, 7, 3] }],
      (x) =>
        tf.add(
          weighted(tf.image.resizeBilinear(t4(x), [11, 8], false, true), 3),
          weighted(tf.image.resizeBilinear(t4(x), [9, 13], true, false), 4),
        ),
    ],
    [
      'pad',
      [{ shape: [2, 3, 4] }],
      (x) =>
        weighted(
          tf.pad(x, [
            [0, 1],
            [2, 0],
            [1, 1],
          ]),
        ),
    ],
    [
      // (tfjs-core registers no gradient for StridedSlice, on any backend)
      'slice',
      [{ shape: [6, 8, 3] }],
      (x) => weighted(tf.slice(x, [1, 2, 0], [3, 4, 2]), 5),
    ],
    ['concat', [{ shape: [2, 3] }, { shape: [2, 5] }], (a, b) => weighted(tf.concat([a, b], 1))],
    [
      'gather (UnsortedSegmentSum gradient)',
      [{ shape: [10, 6] }],
      (t) => weighted(tf.gather(t, tf.tensor1d([3, 1, 3, 9, 0, 3], 'int32'))),
    ],
    ['tile', [{ shape: [2, 3] }], (x) => weighted(tf.tile(x, [3, 2]))],
    ['transpose', [{ shape: [2, 3, 4] }], (x) => weighted(tf.transpose(x, [2, 0, 1]))],
    [
      'avgPool / maxPool',
      [{ shape: [2, 8, 8, 3] }],
      (x) =>
        tf.add(weighted(tf.avgPool(t4(x), 2, 2, 'valid'), 8), weighted(tf.maxPool(t4(x), 3, 2, 'same'), 9)),
    ],
    [
      'elementwise mix (exp, log, sqrt, pow, abs, maximum, clip, where)',
      [{ shape: [30] }, { shape: [30] }],
      (a, b) =>
        weighted(
          tf.addN([
            tf.exp(tf.mul(a, 0.5)),
            tf.log(tf.add(tf.abs(b), 1)),
            tf.sqrt(tf.add(tf.square(a), 1)),
            tf.pow(tf.add(tf.abs(a), 1), 1.5),
            tf.maximum(a, b),
            tf.clipByValue(b, -0.5, 0.5),
            // (a condition computed from a differentiated input fails on every backend: Greater has no gradient)
            tf.where(
              tf.tensor1d(
                Array.from(rand([30], 9), (v) => v > 0),
                'bool',
              ),
              a,
              tf.mul(b, 2),
            ),
          ]),
        ),
    ],
  ];
  for (const [name, specs, loss] of cases) {
    it(name, async () => {
      await expectSameGrads(specs, loss);
    });
  }
});

describe('kernels where the stock cpu backend is not a reference', () => {
  it.each(['wasm', 'cpu'])(
    'ResizeBilinearGrad on %s is the adjoint of ResizeBilinear (stock: wrong)',
    async (backend) => {
      // Stock tfjs 4.22 ignores halfPixelCenters in the gradient (both backends) and the cpu kernel swaps height
      // and width for non-square images; initBackend installs the exact adjoint on both.
      await tf.setBackend(backend);
      // f(x) = <resize(x), w> is linear, so <∇f, x> = f(x) and ∇f has the input's shape.
      const x = tf.tensor(rand([2, 5, 7, 3], 21), [2, 5, 7, 3]) as tf.Tensor4D;
      const modes: [boolean, boolean][] = [
        [false, true],
        [true, false],
        [false, false],
      ];
      for (const [alignCorners, halfPixel] of modes) {
        const w = tf.tensor(rand([2, 9, 4, 3], 22), [2, 9, 4, 3]);
        const f = (xx: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(tf.image.resizeBilinear(xx as tf.Tensor4D, [9, 4], alignCorners, halfPixel), w));
        const g = tf.grad(f)(x);
        expect(g.shape).toEqual(x.shape);
        const lhs = tf.sum(tf.mul(g, x)).dataSync()[0];
        const rhs = f(x).dataSync()[0];
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(rhs)));
      }
    },
  );

  it('MaxPoolGrad routes the gradient to the maximum of all-negative windows (stock wasm kernel does not)', async () => {
    const x = tf.tensor4d([-0.4, -0.5, -0.2, -0.7, -0.9, -0.1, -0.3, -0.8, -0.6], [1, 3, 3, 1]);
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.maxPool(xx as tf.Tensor4D, 2, 1, 'valid')))(x);
      // windows {-.4 -.5 -.7 -.9} → -.4, {-.5 -.2 -.9 -.1} → -.1, {-.7 -.9 -.3 -.8} → -.3, {-.9 -.1 -.8 -.6} → -.1
      expect(Array.from(g.dataSync())).toEqual([1, 0, 0, 0, 0, 2, 1, 0, 0]);
    }
  });
});
