import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { initBackend } from './backends';
import {
  registerWasmTrainingKernels,
  WASM_ACCELERATED_KERNELS,
  WASM_ADDED_KERNELS,
  WASM_FIXED_KERNELS,
  setWasmScratchLimit,
} from './wasm-kernels';

/** Deterministic pseudo-random values in [-1, 1). */
function rand(shape: number[], seed: number): tf.Tensor {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
  return tf.tensor(v, shape);
}

/** Runs `f` on a backend with fresh copies of `inputs` and returns the output values. */
async function on(
  backend: string,
  inputs: tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const copies = inputs.map((t) => tf.tensor(t.dataSync(), t.shape, t.dtype));
  const out = f(...copies);
  const values = Float32Array.from(out.dataSync());
  tf.dispose([out, ...copies]);
  return values;
}

/** |wasm − cpu| ≤ 1e-4 · max(1, max|cpu|) elementwise. */
function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(1e-4 * scale);
}

async function compare(inputs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const cpu = await on('cpu', inputs, f);
  const wasm = await on('wasm', inputs, f);
  expectClose(wasm, cpu);
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap);

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: [number, number];
  outC: number;
  stride: [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { name: '3×3 pad 1 stride 1', x: [2, 9, 9, 5], k: [3, 3], outC: 7, stride: [1, 1], pad: 1 },
  { name: '3×3 same stride 1', x: [1, 8, 8, 4], k: [3, 3], outC: 6, stride: [1, 1], pad: 'same' },
  { name: '2×2 stride 2 valid', x: [3, 8, 8, 4], k: [2, 2], outC: 5, stride: [2, 2], pad: 'valid' },
  { name: '1×1', x: [2, 5, 6, 8], k: [1, 1], outC: 3, stride: [1, 1], pad: 'valid' },
  {
    name: 'non-square 3×5 stride 2×1 same',
    x: [2, 11, 7, 3],
    k: [3, 5],
    outC: 4,
    stride: [2, 1],
    pad: 'same',
  },
  { name: '3×3 stride 2 same, odd input', x: [2, 9, 7, 3], k: [3, 3], outC: 4, stride: [2, 2], pad: 'same' },
  {
    name: 'explicit asymmetric padding',
    x: [1, 7, 9, 3],
    k: [3, 2],
    outC: 2,
    stride: [1, 2],
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
  { name: '4×4 stride 2 pad 1 (overlapping)', x: [2, 8, 10, 3], k: [4, 4], outC: 5, stride: [2, 2], pad: 1 },
  { name: '1×1 with padding 1 (crop path)', x: [2, 4, 5, 3], k: [1, 1], outC: 2, stride: [1, 1], pad: 1 },
  { name: '2×2 stride 1 pad 2 (pad > k − 1)', x: [1, 5, 4, 2], k: [2, 2], outC: 3, stride: [1, 1], pad: 2 },
];

function outSize(c: ConvCase, depthwise = false, mult = 1): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    [c.k[0], c.k[1], c.x[3], depthwise ? mult : c.outC],
    c.stride,
    1,
    c.pad,
    undefined,
    depthwise,
  );
  return info.outShape;
}

beforeAll(async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  await initBackend({ prefer: 'wasm', log: () => undefined });
});

describe('registerWasmTrainingKernels', () => {
  it('registers the missing training kernels on wasm, idempotently', () => {
    const first = registerWasmTrainingKernels();
    const second = registerWasmTrainingKernels();
    expect(second).toEqual(first);
    for (const k of WASM_ADDED_KERNELS) expect(tf.getKernel(k, 'wasm')).toBeDefined();
    expect(first.added).toEqual([...WASM_ADDED_KERNELS]);
    expect(first.accelerated).toEqual([...WASM_ACCELERATED_KERNELS]);
    expect(first.fixed).toEqual([...WASM_FIXED_KERNELS]);
    // What stays missing is complex/FFT, ragged, string and canvas kernels, plus Einsum (no gradient in tfjs).
    for (const k of first.stillMissing) {
      expect([
        'Complex',
        'ComplexAbs',
        'Real',
        'Imag',
        'FFT',
        'IFFT',
        'Draw',
        'Einsum',
        'StaticRegexReplace',
      ]).toContain(k.startsWith('Ragged') ? 'Einsum' : k);
    }
  });
});

describe('Conv2DBackpropFilter on wasm equals cpu', () => {
  convCases.forEach((c, i) => {
    it(c.name, async () => {
      const x = rand(c.x, 11 + i);
      const dy = rand(outSize(c), 101 + i);
      await compare([x, dy], (xx, dd) =>
        run(
          'Conv2DBackpropFilter',
          { x: xx, dy: dd },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            filterShape: [c.k[0], c.k[1], c.x[3], c.outC],
          },
        ),
      );
    });
  });
});

describe('conv backprops in several scratch chunks equal cpu', () => {
  const c: ConvCase = { name: 'chunked', x: [3, 9, 7, 4], k: [3, 3], outC: 5, stride: [2, 1], pad: 'same' };
  it.each([
    ['Conv2DBackpropFilter', 1],
    ['Conv2DBackpropFilter', 250],
    ['Conv2DBackpropInput', 1],
    ['Conv2DBackpropInput', 250],
  ])('%s with a %i-float scratch cap', async (kernel, cap) => {
    const x = rand(c.x, 61);
    const w = rand([c.k[0], c.k[1], c.x[3], c.outC], 62);
    const dy = rand(outSize(c), 63);
    const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
    const old = setWasmScratchLimit(cap);
    try {
      if (kernel === 'Conv2DBackpropFilter') {
        await compare([x, dy], (xx, dd) =>
          run(kernel, { x: xx, dy: dd }, { ...attrs, filterShape: [c.k[0], c.k[1], c.x[3], c.outC] }),
        );
      } else {
        await compare([dy, w], (dd, ww) =>
          run(kernel, { dy: dd, filter: ww }, { ...attrs, inputShape: c.x }),
        );
      }
    } finally {
      setWasmScratchLimit(old);
    }
  });
});

describe('Conv2DBackpropInput (accelerated) on wasm equals cpu', () => {
  convCases.forEach((c, i) => {
    it(c.name, async () => {
      const w = rand([c.k[0], c.k[1], c.x[3], c.outC], 21 + i);
      const dy = rand(outSize(c), 201 + i);
      await compare([dy, w], (dd, ww) =>
        run(
          'Conv2DBackpropInput',
          { dy: dd, filter: ww },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            inputShape: c.x,
          },
        ),
      );
    });
  });
});

describe('depthwise backprops on wasm equal cpu', () => {
  const cases = convCases.filter((c) => typeof c.pad !== 'object');
  for (const mult of [1, 2]) {
    cases.forEach((c, i) => {
      it(`filter, ${c.name}, multiplier ${mult}`, async () => {
        const x = rand(c.x, 31 + i);
        const dy = rand(outSize(c, true, mult), 301 + i);
        await compare([x, dy], (xx, dd) =>
          run(
            'DepthwiseConv2dNativeBackpropFilter',
            { x: xx, dy: dd },
            {
              strides: c.stride,
              pad: c.pad,
              dilations: [1, 1],
              filterShape: [c.k[0], c.k[1], c.x[3], mult],
            },
          ),
        );
      });
      it(`input, ${c.name}, multiplier ${mult}`, async () => {
        const w = rand([c.k[0], c.k[1], c.x[3], mult], 41 + i);
        const dy = rand(outSize(c, true, mult), 401 + i);
        await compare([dy, w], (dd, ww) =>
          run(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: dd, filter: ww },
            {
              strides: c.stride,
              pad: c.pad,
              dilations: [1, 1],
              inputShape: c.x,
            },
          ),
        );
      });
    });
  }

  it('rejects dilations > 1', async () => {
    await tf.setBackend('wasm');
    const x = rand([1, 6, 6, 2], 1);
    const dy = rand([1, 2, 2, 2], 2);
    expect(() =>
      run(
        'DepthwiseConv2dNativeBackpropFilter',
        { x, dy },
        {
          strides: [1, 1],
          pad: 'valid',
          dilations: [2, 2],
          filterShape: [3, 3, 2, 1],
        },
      ),
    ).toThrow(/dilations = 1/);
  });
});

describe('UnsortedSegmentSum on wasm equals cpu', () => {
  it('float32 rows with repeated, missing and out-of-range ids', async () => {
    const x = rand([7, 3, 4], 5);
    const ids = tf.tensor1d([0, 4, 2, 4, -1, 9, 0], 'int32');
    await compare([x, ids], (xx, ii) => tf.unsortedSegmentSum(xx, ii as tf.Tensor1D, 5));
  });
  it('int32 values', async () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2], 'int32');
    const ids = tf.tensor1d([1, 1, 0, 2], 'int32');
    await compare([x, ids], (xx, ii) => tf.unsortedSegmentSum(xx, ii as tf.Tensor1D, 3));
  });
  it('gather gradient', async () => {
    const table = rand([10, 6], 7);
    await compare([table], (t) =>
      tf.grad((tt: tf.Tensor) => tf.sum(tf.square(tf.gather(tt, tf.tensor1d([3, 1, 3, 9, 0], 'int32')))))(t),
    );
  });
});

describe('BatchMatMul (accelerated) on wasm equals cpu', () => {
  const shapes: { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [
    { name: '2-D, transposeA', a: [70, 40], b: [70, 50], tA: true, tB: false },
    { name: '2-D, transposeB', a: [40, 70], b: [50, 70], tA: false, tB: true },
    { name: '2-D, both transposed', a: [70, 40], b: [50, 70], tA: true, tB: true },
    { name: 'batched lhs, shared rhs', a: [3, 40, 64], b: [64, 48], tA: false, tB: false },
    { name: 'batched lhs, shared rhs, transposeB', a: [3, 40, 64], b: [48, 64], tA: false, tB: true },
    { name: 'rank-4 lhs, rank-3 rhs (stock path)', a: [2, 3, 40, 64], b: [3, 64, 48], tA: false, tB: false },
    { name: 'batched both', a: [4, 40, 64], b: [4, 64, 48], tA: false, tB: false },
    {
      name: 'batched both, transposeB (attention logits)',
      a: [2, 3, 40, 32],
      b: [2, 3, 48, 32],
      tA: false,
      tB: true,
    },
    { name: 'batched both, transposeA', a: [3, 64, 40], b: [3, 64, 48], tA: true, tB: false },
    { name: 'shared lhs, batched rhs', a: [40, 64], b: [3, 64, 48], tA: false, tB: false },
    { name: 'small (stock path)', a: [2, 3, 4], b: [2, 4, 5], tA: false, tB: true },
  ];
  shapes.forEach((c, i) => {
    it(c.name, async () => {
      const bShape = c.tB ? c.b : c.b;
      const a = rand(c.a, 51 + i);
      const b = rand(c.name.startsWith('small') ? [2, 5, 4] : bShape, 501 + i);
      await compare([a, b], (aa, bb) => tf.matMul(aa, bb, c.tA, c.tB));
    });
  });
});

describe('Identity (accelerated) on wasm shares the buffer', () => {
  it('a clone outlives its source with the same values, adds no buffer, and the buffer goes with the last owner', async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
    const before = tf.memory().numDataBuffers;
    const x = rand([64, 64], 5);
    const values = Float32Array.from(x.dataSync());
    const y = tf.clone(x);
    expect(tf.memory().numDataBuffers - before).toBe(1); // one buffer for both (the stock kernel made two)
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual(Array.from(values));
    y.dispose();
    expect(tf.memory().numDataBuffers).toBe(before);
  });

  it('gradients that keep their inputs (the engine clones them) are unchanged', async () => {
    const a = rand([6, 32], 1);
    const b = rand([32, 16], 2);
    const grad = (x: tf.Tensor): tf.Tensor =>
      tf.grad((v: tf.Tensor) => tf.sum(tf.exp(tf.mul(tf.matMul(v, b), 0.1))))(x);
    const cpu = await on('cpu', [a], grad);
    const wasm = await on('wasm', [a], grad);
    expectClose(wasm, cpu);
    tf.dispose([a, b]);
  });
});
