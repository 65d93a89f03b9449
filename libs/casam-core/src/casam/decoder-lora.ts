/**
 * A task's low-rank (LoRA) delta on the frozen mask decoder: for each chosen Linear layer (attention projections of
 * the two-way transformer, output hypernetwork MLPs) ΔW = (alpha / rank)·B·A with A [rank,in], B [out,rank]
 * (PyTorch layout, W [out,in]). B starts at zero, so a fresh delta is exactly frozen SAM; A starts like PyTorch's
 * LoRA (kaiming-uniform, bound 1/√in) so B receives gradients from the first step.
 *
 * How it is applied: the decoder takes it as an optional per-call argument (sam/decoder-delta.ts) and asks it for
 * each Linear's weight; this delta answers W + (alpha/rank)·(B·A)ᵀ in TF layout, merged per call. Merging
 * costs one [in,r]·[r,out] product per layer per call, independent of the token count, where the unmerged form
 * (x·Aᵀ)·Bᵀ would add two products over every token (4096 image tokens at vit_b size in the image-to-token
 * attention); the decoder runs the same matMuls as before, the frozen weights are never written, routing can
 * switch tasks per image by passing another delta, and without a delta nothing changes at all. A zero B adds
 * exact zeros, so the result is bit-identical to the frozen decoder. The merged form is also what a per-task ONNX
 * decoder export will bake in (`mergeDecoderLora`).
 *
 * Layer names and shapes come from `@casam/protocol` (the adapter file's version 2 schema), so what trains here
 * is what the coordinator accepts.
 */
import {
  ADAPTER_DECODER_LORA_PREFIX,
  type AdapterDecoderLoraMetadata,
  decoderLoraDims,
  decoderLoraLayerSpecs,
  decoderLoraMetadataProblems,
  decoderLoraTensorSpecs,
} from '@casam/protocol';
import { tf } from '../sam/tf';
import type { SamConfig } from '../sam/config';
import type { DecoderDelta } from '../sam/decoder-delta';
import { StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { createRng, deriveSeed, uniformArray } from '../random/seeded-random';
import { CasamStateDictError, checkStateDict } from './state-dict-check';
import { assertChannels } from './casam-shapes';

/** Rank when the caller names none. */
export const DEFAULT_DECODER_LORA_RANK = 4;

export interface DecoderLoraOptions {
  /** Image-embedding channels (= the decoder's width). */
  channels: number;
  /** Default DEFAULT_DECODER_LORA_RANK; at most DECODER_LORA_LIMITS.maxRank. */
  rank?: number;
  /** Scale numerator, ΔW = (alpha/rank)·B·A. Default: rank (scale 1). */
  alpha?: number;
  /** Layers with a delta (names relative to `mask_decoder`). Default: every layer the schema allows. */
  layers?: readonly string[];
  /** Seed of A's initialisation (default 0). Ignored when `stateDict` is given. */
  seed?: number;
  /** Start from these tensors (`<layer>.A`, `<layer>.B`) instead of a fresh initialisation. */
  stateDict?: StateDict;
  /** Whether the variables take part in training (default true). */
  trainable?: boolean;
}

export interface DecoderLora extends DecoderDelta {
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank. */
  readonly scale: number;
  /** Layers with a delta, in the decoder's order. */
  readonly layers: readonly string[];
  /** `<layer>.A` [rank,in], `<layer>.B` [out,rank] (PyTorch layout), in file order. */
  namedVariables(): Map<string, tf.Variable>;
  stateDict(): StateDict;
  /** The adapter file's `decoderLora` metadata entry. */
  metadata(): AdapterDecoderLoraMetadata;
  parameterCount(): number;
  dispose(): void;
}

/** Throws unless the adapter schema's decoder shapes are those of `cfg` (every preset it knows is). */
export function assertDecoderLoraFits(cfg: SamConfig): void {
  const d = decoderLoraDims(cfg.outChans);
  const ok =
    cfg.promptEmbedDim === d.dim &&
    cfg.decoderAttentionDownsampleRate === d.attentionDownsampleRate &&
    cfg.decoderTransformerDepth === d.depth &&
    cfg.numMultimaskOutputs + 1 === d.maskTokens;
  if (!ok)
    throw new RangeError(
      `decoder deltas are defined for decoders of width C, ${d.depth} blocks, downsample ${d.attentionDownsampleRate} ` +
        `and ${d.maskTokens} mask tokens; ${cfg.name} differs`,
    );
}

export function createDecoderLora(opts: DecoderLoraOptions): DecoderLora {
  const { channels } = opts;
  assertChannels(channels);
  const rank = opts.rank ?? DEFAULT_DECODER_LORA_RANK;
  const alpha = opts.alpha ?? rank;
  const allowed = decoderLoraLayerSpecs(decoderLoraDims(channels));
  const layers = opts.layers ? [...opts.layers] : allowed.map((s) => s.name);
  const meta: AdapterDecoderLoraMetadata = { rank, alpha, layers };
  const problems = decoderLoraMetadataProblems(meta, channels);
  if (problems.length) throw new RangeError(`invalid decoder delta: ${problems.join('; ')}`);
  const spec = decoderLoraTensorSpecs(channels, meta).map((s) => ({
    name: s.name.slice(ADAPTER_DECODER_LORA_PREFIX.length),
    shape: s.shape,
  }));
  if (opts.stateDict) checkStateDict(opts.stateDict, spec, 'decoder delta');
  const trainable = opts.trainable ?? true;
  const seed = opts.seed ?? 0;
  const inDim = new Map(allowed.map((s) => [s.name, s.inDim]));
  const vars = new Map<string, tf.Variable>();
  for (const s of spec) {
    let data: Float32Array;
    if (opts.stateDict) data = Float32Array.from(toFloat32(opts.stateDict.get(s.name)!));
    else if (s.name.endsWith('.B')) data = new Float32Array(s.shape[0] * s.shape[1]);
    else {
      const layer = s.name.slice(0, -2);
      const rng = createRng(deriveSeed(seed, 'decoder-lora', layer));
      data = uniformArray(s.shape[0] * s.shape[1], 1 / Math.sqrt(inDim.get(layer)!), rng);
    }
    const init = tf.tensor2d(data, s.shape as [number, number]);
    vars.set(s.name, tf.variable(init, trainable));
    init.dispose();
  }
  const scale = alpha / rank;
  const withDelta = new Set(layers);
  let disposed = false;

  return {
    rank,
    alpha,
    scale,
    layers,
    weight(name, frozen) {
      if (disposed) throw new Error('this decoder delta has been disposed');
      if (!withDelta.has(name)) return frozen;
      const a = vars.get(`${name}.A`)!;
      const b = vars.get(`${name}.B`)!;
      // (B·A)ᵀ = Aᵀ·Bᵀ: [in,r]·[r,out] = the TF layout [in,out].
      return tf.add(frozen, tf.mul(tf.matMul(a, b, true, true), scale)) as tf.Tensor2D;
    },
    namedVariables: () => new Map(vars),
    stateDict() {
      const out: StateDict = new Map();
      for (const [k, v] of vars)
        out.set(k, float32Tensor([...v.shape], Float32Array.from(v.dataSync() as Float32Array)));
      return out;
    },
    metadata: () => ({ rank, alpha, layers: [...layers] }),
    parameterCount: () => [...vars.values()].reduce((n, v) => n + v.size, 0),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const v of vars.values()) v.dispose();
      vars.clear();
    },
  };
}

/**
 * The base model's state dict with a delta merged into its decoder: `mask_decoder.<layer>.weight` becomes
 * W + (alpha/rank)·B·A (float32, other tensors shared with `sd`). The frozen decoder that runs exactly what the
 * delta does; a per-task decoder export starts from it.
 */
export function mergeDecoderLora(sd: StateDict, lora: DecoderLora): StateDict {
  const out: StateDict = new Map(sd);
  for (const layer of lora.layers) {
    const key = `mask_decoder.${layer}.weight`;
    const w = sd.get(key);
    if (!w) throw new CasamStateDictError('base model', [`missing ${key}`]);
    const merged = tf.tidy(() => {
      const vars = lora.namedVariables();
      const delta = tf.mul(tf.matMul(vars.get(`${layer}.B`)!, vars.get(`${layer}.A`)!), lora.scale);
      return tf.add(tf.tensor2d(toFloat32(w), w.shape as [number, number]), delta);
    });
    out.set(key, float32Tensor([...w.shape], Float32Array.from(merged.dataSync() as Float32Array)));
    merged.dispose();
  }
  return out;
}
