/** Test-only helpers for the CA-SAM specs: golden tensors as tf tensors and backend switching. */
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../sam/tf';
import { initBackend } from '../backend';
import { toFloat32 } from '../tensor/host-tensor';
import { fixtureTensor } from '../testing/fixtures';

export const CASAM_GOLDEN = 'casam/casam-golden.safetensors';
export const CASAM_WEIGHTS = 'casam/casam-weights.safetensors';
export const VITB_GOLDEN = 'sam-vitb-decoder/sam-vitb-decoder-golden.safetensors';

/** Float32 values of a golden tensor. */
export function golden(name: string, rel = CASAM_GOLDEN): Float32Array {
  return toFloat32(fixtureTensor(rel, name));
}

/** A golden tensor as a tf tensor (caller disposes). */
export function goldenTf(name: string, rel = CASAM_GOLDEN): tf.Tensor {
  const t = fixtureTensor(rel, name);
  return tf.tensor(toFloat32(t), t.shape, 'float32');
}

let wasmReady: Promise<unknown> | null = null;

/** Switches to `cpu` or `wasm` (the latter with the training kernels initBackend registers). */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') {
    wasmReady ??= initBackend({ prefer: 'wasm', log: () => undefined });
    await wasmReady;
  }
  await tf.setBackend(name);
  await tf.ready();
}
