import { existsSync, readFileSync } from 'node:fs';
import {
  writeFileAtomic,
  HostTensor,
  StateDict,
  float32Tensor,
  SafetensorsFile,
  readSafetensors,
  writeSafetensors,
} from '@casam/casam-core';

/** A training checkpoint that cannot be read or does not belong to this run. */
export class PretrainCheckpointError extends Error {
  override name = 'PretrainCheckpointError';
}

/** Run state stored beside the tensors (JSON in the safetensors metadata). */
export interface CheckpointMeta {
  format: 'casam-pretrain-checkpoint/1';
  preset: string;
  /** Optimizer steps completed. */
  step: number;
  /** Corpus seed; the data stream is a pure function of (seed, sample index). */
  seed: number;
  /** Index of the next corpus sample to draw: the data stream's whole RNG state. */
  nextSample: number;
  /** Training wall time so far, over all sessions (seconds). */
  elapsedSeconds: number;
  /** Command line of the session that wrote this checkpoint, and its backend summary (for the README). */
  command?: string;
  backend?: string;
  /** The hyper-parameters the run was started/continued with, for the log and README. */
  options: Record<string, number | string | boolean>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** Official names and PyTorch layouts. */
  weights: StateDict;
  /** Adam moments keyed `m.<name>` / `v.<name>`. */
  optimizer: Map<string, HostTensor>;
}

const W = 'model.';
const O = 'adam.';

/** The optimizer's state dict (`step`, `exp_avg.<name>`, `exp_avg_sq.<name>`) as a checkpoint keeps it. */
export function checkpointMoments(adamState: StateDict): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of adamState) {
    if (k.startsWith('exp_avg_sq.')) out.set(`v.${k.slice('exp_avg_sq.'.length)}`, t);
    else if (k.startsWith('exp_avg.')) out.set(`m.${k.slice('exp_avg.'.length)}`, t);
  }
  return out;
}

/** A checkpoint's moments and step as the optimizer's state dict (the inverse of {@link checkpointMoments}). */
export function adamStateOf(ckpt: Checkpoint): StateDict {
  const out: StateDict = new Map([['step', float32Tensor([1], Float32Array.of(ckpt.meta.step))]]);
  for (const [k, t] of ckpt.optimizer) {
    if (k.startsWith('m.')) out.set(`exp_avg.${k.slice(2)}`, t);
    else if (k.startsWith('v.')) out.set(`exp_avg_sq.${k.slice(2)}`, t);
    else out.set(k, t); // the optimizer names what it does not expect
  }
  return out;
}

export function saveCheckpoint(path: string, ckpt: Checkpoint): void {
  const tensors: [string, HostTensor][] = [];
  for (const [k, t] of ckpt.weights) tensors.push([W + k, t]);
  for (const [k, t] of ckpt.optimizer) tensors.push([O + k, t]);
  writeFileAtomic(path, writeSafetensors(tensors, { checkpoint: JSON.stringify(ckpt.meta) }));
}

export function loadCheckpoint(path: string): Checkpoint {
  if (!existsSync(path)) throw new PretrainCheckpointError(`${path}: no checkpoint`);
  let file: SafetensorsFile;
  try {
    file = readSafetensors(new Uint8Array(readFileSync(path)));
  } catch (e) {
    throw new PretrainCheckpointError(`${path}: unreadable checkpoint: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const raw = file.metadata['checkpoint'];
  if (raw === undefined)
    throw new PretrainCheckpointError(`${path}: not a pretraining checkpoint (no metadata)`);
  const meta = JSON.parse(raw) as CheckpointMeta;
  if (meta.format !== 'casam-pretrain-checkpoint/1')
    throw new PretrainCheckpointError(`${path}: unknown checkpoint format ${String(meta.format)}`);
  const weights: StateDict = new Map();
  const optimizer = new Map<string, HostTensor>();
  for (const [k, t] of file.tensors) {
    if (k.startsWith(W)) weights.set(k.slice(W.length), t);
    else if (k.startsWith(O)) optimizer.set(k.slice(O.length), t);
    else throw new PretrainCheckpointError(`${path}: unexpected tensor ${k}`);
  }
  return { meta, weights, optimizer };
}
