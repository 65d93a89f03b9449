/** Adapter weights for tests and benchmarks that need a valid adapter file but no trained one. */
import {
  ADAPTER_DECODER_LORA_PREFIX,
  type AdapterDecoderLoraMetadata,
  decoderLoraDims,
  decoderLoraLayerSpecs,
  decoderLoraTensorSpecs,
  expectedAdapterSchema,
} from '@casam/protocol';
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

/**
 * A decoder delta for a version 2 adapter file (writeAdapterFile's `decoderLora`), every tensor filled with
 * `fill` (default 0: the delta changes nothing). Layers default to every layer the schema allows.
 */
export function constantDecoderLora(
  channels: number,
  opts: { rank?: number; alpha?: number; layers?: string[]; fill?: number } = {},
): { metadata: AdapterDecoderLoraMetadata; stateDict: StateDict } {
  const rank = opts.rank ?? 4;
  const metadata = {
    rank,
    alpha: opts.alpha ?? rank,
    layers: opts.layers ?? decoderLoraLayerSpecs(decoderLoraDims(channels)).map((s) => s.name),
  };
  const stateDict: StateDict = new Map();
  for (const s of decoderLoraTensorSpecs(channels, metadata))
    stateDict.set(
      s.name.slice(ADAPTER_DECODER_LORA_PREFIX.length),
      float32Tensor(s.shape, new Float32Array(s.shape[0] * s.shape[1]).fill(opts.fill ?? 0)),
    );
  return { metadata, stateDict };
}
