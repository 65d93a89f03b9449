/**
 * The CA-SAM adapter tensor schema: names and shapes of the Alignment Layer and TaskVAE tensors (PyTorch layout,
 * `named_parameters()` order), the adapter file's metadata schema and limits, and the base-model presets the
 * federation knows. Shared by the coordinator (which checks uploads) and the ML library (which writes them).
 * Depends on nothing.
 */
import {
  type AdapterDecoderLoraMetadata,
  type AdapterVersion,
  decoderLoraTensorSpecs,
} from './adapter-decoder-lora';

/** One expected tensor of a state dict. */
export interface CasamTensorSpec {
  name: string;
  shape: number[];
}

/** Blocks in an Alignment Layer (`AlignCNN(num_layers=3)`). */
export const ALIGN_NUM_BLOCKS = 3;
/** TaskVAE latent size. */
export const VAE_LATENT_DIM = 64;
/** TaskVAE hidden size floor: hidden = max(128, C // 2). */
export const VAE_MIN_HIDDEN_DIM = 128;
/** Largest channel count accepted anywhere (vit_h's neck has 256; this leaves room without allowing abuse). */
export const MAX_CHANNELS = 4096;

/** A channel count that no CA-SAM part can be built for. */
export class InvalidChannelsError extends Error {
  override name = 'InvalidChannelsError';
  constructor(channels: unknown) {
    super(`channels must be an integer in 1..${MAX_CHANNELS}, got ${String(channels)}`);
  }
}

export function assertChannels(channels: unknown): asserts channels is number {
  if (typeof channels !== 'number' || !Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS)
    throw new InvalidChannelsError(channels);
}

/** ECA kernel size: t = floor((|log2 C| + 1) / 2), k = t if t is odd else t + 1 (C=64 → 3, C=256 → 5). */
export function ecaKernelSize(channels: number): number {
  assertChannels(channels);
  const t = Math.floor((Math.abs(Math.log2(channels)) + 1) / 2);
  return t % 2 === 1 ? t : t + 1;
}

/** Alignment Layer state dict (without the `align{C}.` prefix of the fixture). */
export function alignmentStateDictSpec(channels: number): CasamTensorSpec[] {
  const c = channels;
  const k = ecaKernelSize(c);
  const out: CasamTensorSpec[] = [];
  for (let i = 0; i < ALIGN_NUM_BLOCKS; i++) {
    out.push(
      { name: `blocks.${i}.conv1.weight`, shape: [c, c, 3, 3] },
      { name: `blocks.${i}.conv1.bias`, shape: [c] },
      { name: `blocks.${i}.conv2.weight`, shape: [c, c, 3, 3] },
      { name: `blocks.${i}.conv2.bias`, shape: [c] },
      { name: `blocks.${i}.eca.weight`, shape: [1, 1, k] },
    );
  }
  out.push({ name: 'norm.weight', shape: [c] }, { name: 'norm.bias', shape: [c] });
  return out;
}

/** TaskVAE sizes for a feature width C. */
export interface TaskVaeDims {
  inputDim: number;
  hiddenDim: number;
  latentDim: number;
}

export function taskVaeDims(channels: number): TaskVaeDims {
  assertChannels(channels);
  return {
    inputDim: channels,
    hiddenDim: Math.max(VAE_MIN_HIDDEN_DIM, Math.floor(channels / 2)),
    latentDim: VAE_LATENT_DIM,
  };
}

/** The TaskVAE's Linear layers as [name, in, out], in construction order. */
export function taskVaeLinears(dims: TaskVaeDims): [string, number, number][] {
  const { inputDim: c, hiddenDim: h, latentDim: l } = dims;
  return [
    ['encoder.0', c, h],
    ['fc_mu', h, l],
    ['fc_logvar', h, l],
    ['decoder.0', l, h],
    ['decoder.2', h, c],
  ];
}

/** TaskVAE state dict: `.weight` [out,in] then `.bias` [out] per Linear. */
export function taskVaeStateDictSpec(channels: number): CasamTensorSpec[] {
  return taskVaeLinears(taskVaeDims(channels)).flatMap(([name, i, o]) => [
    { name: `${name}.weight`, shape: [o, i] },
    { name: `${name}.bias`, shape: [o] },
  ]);
}

export function specParameterCount(spec: readonly CasamTensorSpec[]): number {
  return spec.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

// ---------------------------------------------------------------------------------------------------------
// The adapter file
// ---------------------------------------------------------------------------------------------------------

export const ADAPTER_FORMAT = 'casam-adapter';
/** Metadata version of an adapter without a decoder delta (one with a delta: ADAPTER_VERSION_DECODER_LORA). */
export const ADAPTER_VERSION = 1;
/** The only `__metadata__` key. */
export const ADAPTER_METADATA_KEY = 'casam';
export const ADAPTER_ALIGN_PREFIX = 'align.';
export const ADAPTER_VAE_PREFIX = 'vae.';

/** Default limits of `validateAdapterFile`. */
export const ADAPTER_LIMITS = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxMetadataBytes: 4 * 1024,
  /** taskId and preset. */
  maxStringLength: 128,
  maxMetrics: 32,
  maxMetricNameLength: 64,
});

/** τ and the summary of the held-out VAE score distribution it was taken from. */
export interface AdapterTauStats {
  tau: number;
  p95: number;
  p99: number;
  mean: number;
  std: number;
  /** Number of held-out scores pooled. */
  n: number;
  /** The percentile τ was taken at (97). */
  percentile: number;
}

/** The adapter file's `casam` metadata. */
export interface AdapterMetadata {
  format: typeof ADAPTER_FORMAT;
  /** 1, or 2 exactly when the file carries a decoder delta (`decoderLora`). */
  version: AdapterVersion;
  taskId: string;
  baseModel: { preset: string; fingerprint: string };
  channels: number;
  tau: AdapterTauStats;
  /** Aggregate validation metrics (e.g. iou, dice), numbers only. */
  metrics: Record<string, number>;
  /** ISO 8601 UTC, e.g. 2026-01-31T12:00:00.000Z. */
  createdAt: string;
  /** Version 2 only: the per-task low-rank delta of the mask decoder (adapter-decoder-lora.ts). */
  decoderLora?: AdapterDecoderLoraMetadata;
}

export interface AdapterTensorSpec {
  name: string;
  dtype: 'F32';
  shape: number[];
}

/**
 * The exact tensor list of an adapter for C channels, in file order; with `decoderLora` (a valid version 2
 * metadata entry) its delta's tensors follow the Alignment Layer's and the VAE's.
 */
export function expectedAdapterSchema(
  channels: number,
  decoderLora?: Pick<AdapterDecoderLoraMetadata, 'rank' | 'layers'>,
): AdapterTensorSpec[] {
  assertChannels(channels);
  return [
    ...alignmentStateDictSpec(channels).map((s) => ({
      name: ADAPTER_ALIGN_PREFIX + s.name,
      dtype: 'F32' as const,
      shape: s.shape,
    })),
    ...taskVaeStateDictSpec(channels).map((s) => ({
      name: ADAPTER_VAE_PREFIX + s.name,
      dtype: 'F32' as const,
      shape: s.shape,
    })),
    ...(decoderLora ? decoderLoraTensorSpecs(channels, decoderLora) : []).map((s) => ({
      ...s,
      dtype: 'F32' as const,
    })),
  ];
}

/** `sha256:` and 64 lower-case hex digits: how base models are fingerprinted. */
export const BASE_MODEL_FINGERPRINT_PATTERN = /^sha256:[0-9a-f]{64}$/;

// ---------------------------------------------------------------------------------------------------------
// Base models
// ---------------------------------------------------------------------------------------------------------

/** What the federation needs to know of a SAM preset: the width of its image embedding (the neck's `outChans`). */
export interface BaseModelPreset {
  name: string;
  embeddingChannels: number;
}

/** The SAM presets adapters can be trained for (the ML library's `SAM_PRESETS`; a spec there keeps both equal). */
export const BASE_MODEL_PRESETS = Object.freeze({
  vit_b: { name: 'vit_b', embeddingChannels: 256 },
  vit_l: { name: 'vit_l', embeddingChannels: 256 },
  vit_h: { name: 'vit_h', embeddingChannels: 256 },
  'sam-mini': { name: 'sam-mini', embeddingChannels: 64 },
  'casam-tiny': { name: 'casam-tiny', embeddingChannels: 64 },
  'casam-small': { name: 'casam-small', embeddingChannels: 64 },
} satisfies Record<string, BaseModelPreset>);

export type BaseModelPresetName = keyof typeof BASE_MODEL_PRESETS;

export function isBaseModelPresetName(name: unknown): name is BaseModelPresetName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(BASE_MODEL_PRESETS, name);
}

/** The preset called `name`, or undefined when the federation knows no such preset. */
export function findBaseModelPreset(name: string): BaseModelPreset | undefined {
  return isBaseModelPresetName(name) ? BASE_MODEL_PRESETS[name] : undefined;
}
