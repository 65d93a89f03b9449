/** Test-only helpers for the exporter specs: ONNX Runtime sessions on exported bytes, TF.js references. */
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { tf } from '../../sam/tf';
import { initBackend } from '../../backend';
import { HostTensor, float32Tensor, numel, toFloat32 } from '../../tensor/host-tensor';
import { maxAbsDiff } from '../../testing/fixtures';

/** One intra-op thread: the development machine's 2 cores are shared with other work. */
export function ortSession(model: Uint8Array | string): Promise<ort.InferenceSession> {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  };
  // Two calls because ORT's overloads take a path or bytes, not their union.
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, opts)
    : ort.InferenceSession.create(model, opts);
}

/** Runs a session on host tensors (float32) and returns every output as a host tensor (copied). */
export async function ortRun(
  s: ort.InferenceSession,
  feeds: Record<string, HostTensor>,
): Promise<Record<string, HostTensor>> {
  const f: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', toFloat32(v), v.shape);
  const out = await s.run(f);
  const res: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(out)) {
    const t = v as ort.Tensor;
    res[k] = float32Tensor([...t.dims], new Float32Array(t.data as Float32Array));
  }
  return res;
}

/** Max abs diff of two float tensors of the same shape (throws on a shape mismatch). */
export function diff(a: HostTensor, b: HostTensor, label: string): number {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new Error(`${label}: shape [${a.shape}] vs [${b.shape}]`);
  return maxAbsDiff(toFloat32(a), toFloat32(b));
}

/** Tokens [first, first+count) of a [1,K,...] tensor. */
export function tokens(t: HostTensor, first: number, count: number): HostTensor {
  const per = numel(t.shape.slice(2));
  return float32Tensor(
    [1, count, ...t.shape.slice(2)],
    toFloat32(t).slice(first * per, (first + count) * per),
  );
}

/** Deterministic values in [lo, hi) (mulberry32), for inputs no fixture provides. */
export function seededTensor(shape: number[], seed: number, lo = -1, hi = 1): HostTensor {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * next();
  return float32Tensor(shape, d);
}

let wasmReady: Promise<unknown> | null = null;

/**
 * The TF.js reference runs on the wasm backend (the one CPU sites use; the parity of both TF.js backends with
 * the official goldens is covered by the SAM specs), which keeps these specs quick.
 */
export async function useWasm(): Promise<void> {
  wasmReady ??= initBackend({ prefer: 'wasm', log: () => undefined });
  await wasmReady;
  await tf.setBackend('wasm');
  await tf.ready();
}

/** Collects "label: value" lines and prints them once, so a spec run shows its parity numbers. */
export function parityReport(title: string): { add(label: string, d: number): number; print(): void } {
  const lines: string[] = [];
  return {
    add(label, d) {
      lines.push(`  ${label}: ${d.toExponential(2)}`);
      return d;
    },
    print() {
      if (lines.length) console.log(`${title} (max abs diff)\n${lines.join('\n')}`);
    },
  };
}
