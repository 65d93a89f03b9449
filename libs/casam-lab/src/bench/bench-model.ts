/**
 * The base model a benchmark runs on, loaded one way for all of them (bench:base, bench:continual, bench:real):
 * SAM weights (.safetensors or .pth) for a preset, or a pretraining checkpoint (its own preset unless one is
 * given), so a candidate default can be benchmarked while its pretraining still runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CheckpointMismatchError,
  type SamConfig,
  type StateDict,
  getPreset,
  isPresetName,
  loadSamWeights,
  readSafetensors,
  stateDictFingerprint,
} from '@casam/casam-core';
import { PretrainCheckpointError, loadCheckpoint } from '../pretrain/checkpoint-io';

/** The model cannot be used: missing file, unknown preset, weights of another shape, broken checkpoint. */
export class BenchModelError extends Error {
  override name = 'BenchModelError';
}

export interface BenchModel {
  /** `preset` for weights, `preset@step` for a checkpoint. */
  label: string;
  path: string;
  cfg: SamConfig;
  sd: StateDict;
  fingerprint: string;
  /** The checkpoint's step, null for weights. */
  step: number | null;
  /** The file's safetensors metadata ({} for .pth). */
  meta: Record<string, string>;
}

export interface BenchModelOptions {
  /** Preset of the weights (default casam-tiny); for a checkpoint, default the checkpoint's own. */
  preset?: string;
  /** Appended to the "not found" message (what to do about it). */
  notFoundHint?: string;
}

export function loadBenchModel(file: string, opts: BenchModelOptions = {}): BenchModel {
  const path = resolve(file);
  if (!existsSync(path))
    throw new BenchModelError(`model ${file} not found${opts.notFoundHint ? `. ${opts.notFoundHint}` : ''}`);
  const meta = path.endsWith('.safetensors')
    ? readSafetensors(new Uint8Array(readFileSync(path))).metadata
    : {};
  const checkPreset = (p: string): string => {
    if (!isPresetName(p)) throw new BenchModelError(`unknown preset ${p}`);
    return p;
  };
  if (meta['checkpoint'] !== undefined) {
    let ckpt;
    try {
      ckpt = loadCheckpoint(path);
    } catch (e) {
      if (e instanceof PretrainCheckpointError) throw new BenchModelError(e.message);
      throw e;
    }
    const preset = checkPreset(opts.preset ?? ckpt.meta.preset);
    return {
      label: `${preset}@${ckpt.meta.step}`,
      path,
      cfg: getPreset(preset),
      sd: ckpt.weights,
      fingerprint: stateDictFingerprint(ckpt.weights),
      step: ckpt.meta.step,
      meta,
    };
  }
  const preset = checkPreset(opts.preset ?? 'casam-tiny');
  const cfg = getPreset(preset);
  let sd: StateDict;
  try {
    sd = loadSamWeights(path, cfg);
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new BenchModelError(e.message);
    throw e;
  }
  return { label: preset, path, cfg, sd, fingerprint: stateDictFingerprint(sd), step: null, meta };
}
