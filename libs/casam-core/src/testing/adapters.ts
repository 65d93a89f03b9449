/** Adapter weights for tests and benchmarks that need a valid adapter file but no trained one. */
import { expectedAdapterSchema } from '@casam/protocol';
import { StateDict, float32Tensor } from '../tensor/host-tensor';

/** Every tensor of the adapter schema for `channels`, filled with zeros, split into the two state dicts. */
export function zeroAdapterStateDicts(channels: number): { align: StateDict; vae: StateDict } {
  const align: StateDict = new Map();
  const vae: StateDict = new Map();
  for (const s of expectedAdapterSchema(channels)) {
    const t = float32Tensor(s.shape, new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
    if (s.name.startsWith('align.')) align.set(s.name.slice('align.'.length), t);
    else vae.set(s.name.slice('vae.'.length), t);
  }
  return { align, vae };
}
