/**
 * Kernel throughput (GFLOP/s) of a TensorFlow.js backend on representative training shapes.
 *
 *   matmul            [1024×1024] · [1024×1024]                                2·1024³ FLOP
 *   conv2dForward     x [6,32,32,64] ⊛ w [3,3,64,64], stride 1, pad 1 ('same') 2·6·32·32·64·64·9 FLOP
 *   conv2dFilterGrad  dW of the same convolution (Conv2DBackpropFilter)        same FLOP count
 * (A SAM-sized [6,64,64,256] activation is ~20× more work per call: too slow for a 2-core CI box.)
 *
 * Each measurement: 2 warm-up calls, then `iterations` timed calls, each forced to completion with
 * dataSync(). Used by bench/sam.bench.ts; also runnable alone:
 * `npx tsx bench/kernels.ts [--backend auto|wasm|cpu|tfjs-node|tfjs-node-gpu] [--iterations 10]`.
 */
import { BACKEND_NAMES, initBackend, type BackendName, tf } from '@casam/casam-core';
import { CliUsageError, failUsage, numberFlag, parseCliArgs } from '@casam/casam-lab';

export interface KernelThroughput {
  matmul: number;
  conv2dForward: number;
  conv2dFilterGrad: number;
}

export interface KernelThroughputDetailed extends KernelThroughput {
  /** Conv2DBackpropInput of the same convolution (the input gradient; also conv2dTranspose's forward). */
  conv2dInputGrad: number;
  /** Attention logits: [8,512,64] · [8,512,64]ᵀ (batched, transposeB). */
  batchMatMulTransposeB: number;
  /** Gradient of a [1024×1024]·[1024×1024] matmul w.r.t. its right operand: aᵀ·dy (transposeA). */
  matmulTransposeA: number;
  backend: string;
  threads?: number;
}

const CONV = { x: [6, 32, 32, 64] as const, w: [3, 3, 64, 64] as const };
const CONV_FLOPS = 2 * 6 * 32 * 32 * 64 * 64 * 3 * 3;
const MATMUL_FLOPS = 2 * 1024 ** 3;
const ATTENTION_FLOPS = 2 * 8 * 512 * 512 * 64;

function gflops(flops: number, iterations: number, run: () => tf.Tensor): number {
  for (let i = 0; i < 2; i++) {
    const warm = run();
    warm.dataSync();
    warm.dispose();
  }
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    const out = run();
    out.dataSync();
    out.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  return Math.round(((flops * iterations) / seconds / 1e9) * 100) / 100;
}

function seeded(shape: readonly number[], seed: number): tf.Tensor {
  return tf.randomUniform([...shape], -1, 1, 'float32', seed);
}

/** Runs every measurement; `backend` is a BackendName ('wasm', 'cpu', 'tfjs-node', 'tfjs-node-gpu') or 'auto'. */
export async function measureKernelThroughputDetailed(opts: {
  backend: string;
  iterations?: number;
}): Promise<KernelThroughputDetailed> {
  const info = await initBackend({ prefer: opts.backend as BackendName | 'auto', log: () => undefined });
  const iterations = opts.iterations ?? 10;
  const a = seeded([1024, 1024], 1);
  const b = seeded([1024, 1024], 2);
  const x = seeded(CONV.x, 3) as tf.Tensor4D;
  const w = seeded(CONV.w, 4) as tf.Tensor4D;
  const dy = seeded([6, 32, 32, 64], 5) as tf.Tensor4D;
  const q = seeded([8, 512, 64], 6);
  const k = seeded([8, 512, 64], 7);
  const convAttrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  try {
    return {
      matmul: gflops(MATMUL_FLOPS, iterations, () => tf.matMul(a, b)),
      conv2dForward: gflops(CONV_FLOPS, iterations, () => tf.conv2d(x, w, 1, 'same')),
      conv2dFilterGrad: gflops(CONV_FLOPS, iterations, () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          ...convAttrs,
          filterShape: [...CONV.w],
        } as unknown as tf.NamedAttrMap),
      ),
      conv2dInputGrad: gflops(CONV_FLOPS, iterations, () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
          ...convAttrs,
          inputShape: [...CONV.x],
        } as unknown as tf.NamedAttrMap),
      ),
      batchMatMulTransposeB: gflops(ATTENTION_FLOPS, iterations, () => tf.matMul(q, k, false, true)),
      matmulTransposeA: gflops(MATMUL_FLOPS, Math.max(1, Math.ceil(iterations / 2)), () =>
        tf.matMul(a, b, true, false),
      ),
      backend: info.name,
      threads: info.threads,
    };
  } finally {
    tf.dispose([a, b, x, w, dy, q, k]);
  }
}

/** GFLOP/s of matmul, conv2d forward and conv2d filter gradient on `backend` (see the shapes above). */
export async function measureKernelThroughput(opts: {
  backend: string;
  iterations?: number;
}): Promise<KernelThroughput> {
  const r = await measureKernelThroughputDetailed(opts);
  return { matmul: r.matmul, conv2dForward: r.conv2dForward, conv2dFilterGrad: r.conv2dFilterGrad };
}

const USAGE = `usage: npx tsx bench/kernels.ts [options]
  --backend NAME     auto (default), ${BACKEND_NAMES.join(', ')}
  --iterations N     timed calls per measurement (default 10)
  --help, -h         print this text`;

if (require.main === module) {
  const v = parseCliArgs(USAGE, {
    backend: { type: 'string', default: 'auto' },
    iterations: { type: 'string' },
  });
  let iterations: number | undefined;
  try {
    if (v.backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(v.backend))
      throw new CliUsageError(`--backend must be auto, ${BACKEND_NAMES.join(', ')}; got "${v.backend}"`);
    iterations = numberFlag('iterations', v.iterations, { integer: true, min: 1 });
  } catch (e) {
    failUsage(e, USAGE);
  }
  measureKernelThroughputDetailed({ backend: v.backend, iterations })
    .then((r) => console.log(JSON.stringify(r)))
    .catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    });
}
