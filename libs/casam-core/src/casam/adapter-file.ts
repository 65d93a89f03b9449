/**
 * The CA-SAM adapter upload: one safetensors file with a task's trained weights and nothing else.
 *
 *   tensors       `align.<Alignment Layer state dict>` then `vae.<TaskVAE state dict>`, all F32, PyTorch layout;
 *                 with a decoder delta also `decoder_lora.<layer>.A/B` (then version 2)
 *   __metadata__  exactly one key, `casam`, whose value is compact JSON:
 *                 {format:'casam-adapter', version:1, taskId, baseModel:{preset, fingerprint}, channels,
 *                  tau:{tau,p95,p99,mean,std,n,percentile}, metrics:{name: number}, createdAt}
 *                 version 2 adds decoderLora:{rank, alpha, layers}
 *
 * An adapter without a delta is written as version 1, byte for byte as before, so sites and coordinators that
 * only know version 1 keep reading it.
 *
 * The schema and its strict validator live in `@casam/protocol` (`validateAdapterFile` there is what the
 * coordinator runs on an upload); this module re-exports them and adds the ML side: state dicts as host tensors
 * and the writer.
 */
import {
  ADAPTER_ALIGN_PREFIX,
  ADAPTER_DECODER_LORA_PREFIX,
  ADAPTER_FORMAT,
  ADAPTER_LIMITS,
  ADAPTER_METADATA_KEY,
  ADAPTER_VAE_PREFIX,
  ADAPTER_VERSION,
  ADAPTER_VERSION_DECODER_LORA,
  type AdapterDecoderLoraMetadata,
  type AdapterMetadata,
  type AdapterTensor,
  AdapterValidationError,
  type ValidateAdapterOptions,
  decoderLoraMetadataProblems,
  decoderLoraTensorSpecs,
  peekAdapterChannels,
  validateAdapterFile as validateAdapterBytes,
} from '@casam/protocol';
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { writeSafetensors } from '../weights/safetensors';
import { alignmentStateDictSpec, assertChannels, taskVaeStateDictSpec } from './casam-shapes';
import { stateDictProblems } from './state-dict-check';
import type { TauStats } from './tau-stats';

export {
  ADAPTER_ALIGN_PREFIX,
  ADAPTER_DECODER_LORA_PREFIX,
  ADAPTER_FORMAT,
  ADAPTER_LIMITS,
  ADAPTER_METADATA_KEY,
  ADAPTER_VAE_PREFIX,
  ADAPTER_VERSION,
  ADAPTER_VERSION_DECODER_LORA,
  AdapterValidationError,
  expectedAdapterSchema,
  type AdapterMetadata,
  type AdapterTensorSpec,
  type ValidateAdapterOptions,
} from '@casam/protocol';

/** A validated adapter with its state dicts as host tensors. */
export interface AdapterFile {
  metadata: AdapterMetadata;
  /** Alignment Layer state dict (names without `align.`). */
  align: StateDict;
  /** TaskVAE state dict (names without `vae.`). */
  vae: StateDict;
  /** Version 2: the decoder delta's tensors (`<layer>.A`, `<layer>.B`; its rank etc. in metadata.decoderLora). */
  decoderLora?: StateDict;
}

function toStateDict(tensors: readonly AdapterTensor[]): StateDict {
  return new Map(tensors.map((t) => [t.name, float32Tensor([...t.shape], t.data)]));
}

/**
 * Checks an uploaded adapter file against the schema for `channels` and returns its content. Throws
 * `AdapterValidationError` listing every problem found. (The check itself is `@casam/protocol`'s.)
 */
export function validateAdapterFile(buf: Uint8Array, options: ValidateAdapterOptions): AdapterFile {
  const v = validateAdapterBytes(buf, options);
  const out: AdapterFile = { metadata: v.metadata, align: toStateDict(v.align), vae: toStateDict(v.vae) };
  if (v.metadata.decoderLora) out.decoderLora = toStateDict(v.decoderLora);
  return out;
}

/** Reads an adapter, validating it for `channels` (default: the channels its metadata declares). */
export function readAdapterFile(buf: Uint8Array, opts: Partial<ValidateAdapterOptions> = {}): AdapterFile {
  let channels = opts.channels;
  if (channels === undefined) {
    // Peek at the declared channels only to pick the schema; the full check below still covers everything.
    const peek = peekAdapterChannels(buf, opts.maxHeaderBytes ?? ADAPTER_LIMITS.maxHeaderBytes);
    if (peek === null) throw new AdapterValidationError(['cannot read the channel count from the metadata']);
    channels = peek;
  }
  return validateAdapterFile(buf, { ...opts, channels });
}

export interface WriteAdapterInput {
  taskId: string;
  baseModel: { preset: string; fingerprint: string };
  tau: TauStats;
  metrics?: Record<string, number>;
  /** Default: now. */
  createdAt?: Date | string;
  align: StateDict;
  vae: StateDict;
  /** A decoder delta (e.g. DecoderLora's metadata() and stateDict()); makes the file version 2. */
  decoderLora?: { metadata: AdapterDecoderLoraMetadata; stateDict: StateDict };
}

/**
 * Serialises an adapter. The channel count comes from the Alignment Layer; the result is run through
 * `validateAdapterFile`, so anything written here is accepted by the coordinator (or this throws).
 */
export function writeAdapterFile(
  input: WriteAdapterInput,
  limits: Omit<ValidateAdapterOptions, 'channels'> = {},
): Uint8Array {
  const norm = input.align.get('norm.weight');
  if (!norm || norm.shape.length !== 1)
    throw new AdapterValidationError(['align state dict has no norm.weight [C]']);
  const channels = norm.shape[0];
  assertChannels(channels);
  const lora = input.decoderLora;
  const loraMeta = lora && {
    rank: lora.metadata.rank,
    alpha: lora.metadata.alpha,
    layers: [...lora.metadata.layers],
  };
  const loraProblems = loraMeta ? decoderLoraMetadataProblems(loraMeta, channels) : [];
  const loraSpec =
    loraMeta && !loraProblems.length
      ? decoderLoraTensorSpecs(channels, loraMeta).map((s) => ({
          name: s.name.slice(ADAPTER_DECODER_LORA_PREFIX.length),
          shape: s.shape,
        }))
      : [];
  const problems = [
    ...stateDictProblems(input.align, alignmentStateDictSpec(channels), ADAPTER_ALIGN_PREFIX),
    ...stateDictProblems(input.vae, taskVaeStateDictSpec(channels), ADAPTER_VAE_PREFIX),
    ...loraProblems,
    ...(lora ? stateDictProblems(lora.stateDict, loraSpec, ADAPTER_DECODER_LORA_PREFIX) : []),
  ];
  if (problems.length) throw new AdapterValidationError(problems);
  const createdAt =
    input.createdAt === undefined
      ? new Date().toISOString()
      : input.createdAt instanceof Date
        ? input.createdAt.toISOString()
        : input.createdAt;
  const t = input.tau;
  const metadata: AdapterMetadata = {
    format: ADAPTER_FORMAT,
    version: loraMeta ? ADAPTER_VERSION_DECODER_LORA : ADAPTER_VERSION,
    taskId: input.taskId,
    baseModel: { preset: input.baseModel.preset, fingerprint: input.baseModel.fingerprint },
    channels,
    tau: { tau: t.tau, p95: t.p95, p99: t.p99, mean: t.mean, std: t.std, n: t.n, percentile: t.percentile },
    metrics: { ...(input.metrics ?? {}) },
    createdAt,
    ...(loraMeta ? { decoderLora: loraMeta } : {}),
  };
  const tensors: [string, HostTensor][] = [];
  for (const s of alignmentStateDictSpec(channels)) {
    const h = input.align.get(s.name)!;
    tensors.push([
      ADAPTER_ALIGN_PREFIX + s.name,
      float32Tensor([...s.shape], Float32Array.from(toFloat32(h))),
    ]);
  }
  for (const s of taskVaeStateDictSpec(channels)) {
    const h = input.vae.get(s.name)!;
    tensors.push([ADAPTER_VAE_PREFIX + s.name, float32Tensor([...s.shape], Float32Array.from(toFloat32(h)))]);
  }
  for (const s of loraSpec) {
    const h = lora!.stateDict.get(s.name)!;
    tensors.push([
      ADAPTER_DECODER_LORA_PREFIX + s.name,
      float32Tensor([...s.shape], Float32Array.from(toFloat32(h))),
    ]);
  }
  const buf = writeSafetensors(tensors, { [ADAPTER_METADATA_KEY]: JSON.stringify(metadata) });
  validateAdapterFile(buf, { ...limits, channels });
  return buf;
}
