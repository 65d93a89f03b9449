/**
 * The Alignment Layer trainer's checkpoint: one safetensors file, written atomically.
 *   tensors   `align.<name>` (Alignment Layer state dict, PyTorch layout), `adam.<key>` (optimizer state), and
 *             with a decoder delta `decoder_lora.<layer>.A/B`
 *   metadata  `casam_al_checkpoint`: JSON {format, version, configHash, position, epochLosses, partial, …}
 * The random streams derive from (seed, epoch, step) (see al-trainer.ts), so the seed in the config hash and the
 * position are the whole RNG state.
 */
import { existsSync, readFileSync } from 'node:fs';
import { HostTensor, StateDict } from '../tensor/host-tensor';
import { SafetensorsFile, readSafetensors, writeSafetensors } from '../weights/safetensors';
import { writeFileAtomic } from '../io/atomic-file';

export const AL_CHECKPOINT_FORMAT = 'casam-al-checkpoint';
export const AL_CHECKPOINT_VERSION = 1;
const META_KEY = 'casam_al_checkpoint';
const ALIGN = 'align.';
const ADAM = 'adam.';
const LORA = 'decoder_lora.';

/** An unreadable checkpoint, or one written by a run with other data or options. */
export class AlCheckpointError extends Error {
  override name = 'AlCheckpointError';
}

export interface AlCheckpointMeta {
  format: typeof AL_CHECKPOINT_FORMAT;
  version: typeof AL_CHECKPOINT_VERSION;
  /** Hash of everything that shapes the computation except the epoch count (see al-trainer.ts). */
  configHash: string;
  channels: number;
  /** Epochs finished. */
  completedEpochs: number;
  /** Steps finished inside epoch `completedEpochs` (0 at an epoch boundary). */
  stepInEpoch: number;
  /** Prompt-weighted mean loss of each finished epoch. */
  epochLosses: number[];
  /** Running sums of the unfinished epoch. */
  partial: { lossSum: number; prompts: number };
  /** Seconds of training behind this checkpoint. */
  trainedS: number;
}

export interface AlCheckpoint {
  meta: AlCheckpointMeta;
  align: StateDict;
  optimizer: StateDict;
  /** The decoder delta being trained with the AL, when there is one. */
  decoderLora?: StateDict;
}

export function writeAlCheckpoint(path: string, c: AlCheckpoint): void {
  const tensors: [string, HostTensor][] = [];
  for (const [k, v] of c.align) tensors.push([ALIGN + k, v]);
  for (const [k, v] of c.optimizer) tensors.push([ADAM + k, v]);
  for (const [k, v] of c.decoderLora ?? []) tensors.push([LORA + k, v]);
  writeFileAtomic(path, writeSafetensors(tensors, { [META_KEY]: JSON.stringify(c.meta) }));
}

/** The checkpoint at `path`, or null when there is none. Throws AlCheckpointError when it is damaged. */
export function readAlCheckpoint(path: string): AlCheckpoint | null {
  if (!existsSync(path)) return null;
  let file: SafetensorsFile;
  try {
    file = readSafetensors(new Uint8Array(readFileSync(path)));
  } catch (e) {
    throw new AlCheckpointError(`checkpoint ${path} is unreadable: ${(e as Error).message}`);
  }
  let meta: AlCheckpointMeta;
  try {
    meta = JSON.parse(file.metadata[META_KEY] ?? '') as AlCheckpointMeta;
  } catch {
    throw new AlCheckpointError(`checkpoint ${path} has no ${META_KEY} metadata`);
  }
  if (meta.format !== AL_CHECKPOINT_FORMAT || meta.version !== AL_CHECKPOINT_VERSION)
    throw new AlCheckpointError(
      `${path} is not a version ${AL_CHECKPOINT_VERSION} ${AL_CHECKPOINT_FORMAT} file`,
    );
  const okInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  if (
    !okInt(meta.completedEpochs) ||
    !okInt(meta.stepInEpoch) ||
    !Array.isArray(meta.epochLosses) ||
    meta.epochLosses.length !== meta.completedEpochs ||
    typeof meta.partial?.lossSum !== 'number' ||
    !okInt(meta.partial?.prompts)
  )
    throw new AlCheckpointError(`checkpoint ${path} has malformed progress metadata`);
  const align: StateDict = new Map();
  const optimizer: StateDict = new Map();
  const decoderLora: StateDict = new Map();
  for (const [k, v] of file.tensors) {
    if (k.startsWith(ALIGN)) align.set(k.slice(ALIGN.length), v);
    else if (k.startsWith(ADAM)) optimizer.set(k.slice(ADAM.length), v);
    else if (k.startsWith(LORA)) decoderLora.set(k.slice(LORA.length), v);
    else throw new AlCheckpointError(`checkpoint ${path} holds an unexpected tensor ${k}`);
  }
  return { meta, align, optimizer, ...(decoderLora.size ? { decoderLora } : {}) };
}
