/**
 * The benchmark's resumable state: one JSON file next to the results, rewritten atomically after every
 * finished unit (zero-shot evaluation, a CA-SAM task, a stage of a shared-AL method, the joint run). A rerun
 * with the same configuration reads it and continues; the weights a later unit starts from live in the work
 * folder, named in the records (what is kept there, and for how long: resume-point.ts).
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import {
  type AlTimings,
  type RegionMetrics,
  type TaskScore,
  type TauStats,
  writeFileAtomic,
} from '@casam/casam-core';
import type { Plan } from './protocol';

export interface ImageRegions {
  id: string;
  domain: string;
  regions: RegionMetrics[];
}

/** Peak memory seen while a unit ran. */
export interface MemoryPeak {
  rssBytes: number;
  tensorBytes: number;
}

export interface UnitCost {
  /** Optimizer steps run. */
  steps: number;
  /** AL timings of the run that trained the unit (null when an earlier, unrecorded run trained it). */
  timings: AlTimings | null;
  /** Wall seconds of the whole unit (training, VAE, τ, Fisher, evaluation). */
  seconds: number;
  memory: MemoryPeak;
}

export interface CasamTaskRecord extends UnitCost {
  adapterPath: string;
  tau: TauStats;
  epochLosses: number[];
  vaeEpochLosses: number[];
  phaseSeconds: Record<string, number>;
  /** IoU on the task's test images with its own layer (no routing), and frozen SAM's. */
  ownIou: number;
  frozenIou: number;
  alParameters: number;
  vaeParameters: number;
}

/** A CA-SAM task trained with a decoder LoRA delta next to its Alignment Layer (the decoder-adapter arm). */
export interface DecoderAdapterTaskRecord extends CasamTaskRecord {
  /** The delta's rank and alpha (a record of another rank is trained again). */
  rank: number;
  alpha: number;
  decoderParameters: number;
}

export interface CasamImage {
  id: string;
  domain: string;
  unseen: boolean;
  scores: TaskScore[];
  /** By task id (that task's layer) and `frozen`. */
  regions: Record<string, RegionMetrics[]>;
}

export interface StageRecord extends UnitCost {
  task: string;
  /** IoU of every task seen so far, in arrival order (a[t][0..t]). */
  row: number[];
  epochLosses: number[];
  /** Weights after the stage (relative to the work folder; only the last stage's file is kept: resume-point.ts). */
  weights: string;
  /** EWC: seconds spent on the Fisher information after the stage; images used. */
  fisherSeconds?: number;
  fisherImages?: number;
  /** EWC: mean of the accumulated diagonal Fisher (for the report's λ note). */
  fisherMean?: number;
}

export interface JointRecord extends UnitCost {
  /** Final IoU per task (order-independent). */
  iou: Record<string, number>;
  epochLosses: number[];
  weights: string;
}

export interface BenchState {
  format: 'casam-continual-bench-state';
  version: 2;
  configHash: string;
  plan: Plan;
  /** Zero-shot frozen SAM and box-fill on every domain's test images. */
  zeroShot?: { frozen: ImageRegions[]; boxFill: ImageRegions[] };
  /** `${orderIndex}:${task}` → that order's layer, VAE and τ for the task (see casamTaskKey). */
  casamTasks: Record<string, CasamTaskRecord>;
  /** Order index → every test image scored under that order's nine layers and VAEs. */
  casamImages: Record<string, CasamImage[]>;
  /**
   * CA-SAM + decoder adapter, paper order only: task → that task's AL + decoder delta + VAE + τ (same seeds and
   * epochs as CA-SAM's paper-order set). Absent in states of runs before the arm.
   */
  decoderTasks?: Record<string, DecoderAdapterTaskRecord>;
  /** Every test image scored under every decoder-adapter task (AL + delta) and VAE; absent until scored. */
  decoderImages?: CasamImage[];
  /** `${method}:${orderIndex}` → finished stages. */
  stages: Record<string, StageRecord[]>;
  joint?: JointRecord;
  /** The frozen encoder's median time for one image (latest run) and the embedding phase of the run that
   * computed the cache. */
  measurements?: {
    encoderMsPerImage: number;
    /** Median AL training step measured right after the encoder (same load). */
    alStepMs?: number;
    embedSeconds: number;
    embeddedImages: number;
  };
}

export class StateMismatchError extends Error {
  override name = 'StateMismatchError';
}

export function openState(path: string, plan: Plan, configHash: string, restart: boolean): BenchState {
  const fresh: BenchState = {
    format: 'casam-continual-bench-state',
    version: 2,
    configHash,
    plan,
    casamTasks: {},
    casamImages: {},
    stages: {},
  };
  if (!existsSync(path)) return fresh;
  const old = JSON.parse(readFileSync(path, 'utf8')) as BenchState | StateV1;
  if (old.configHash === configHash && !restart) return old.version === 1 ? fromV1(old) : old;
  if (!restart)
    throw new StateMismatchError(
      `${path} belongs to a run with another configuration or base model; pass --restart to discard it (it is kept as ${path}.old)`,
    );
  renameSync(path, `${path}.old`);
  return fresh;
}

/** The key of CA-SAM's unit for `task` in order `order` (0 = the paper's). */
export function casamTaskKey(order: number, task: string): string {
  return `${order}:${task}`;
}

/** Version 1 trained CA-SAM once per task and reused it in every order: keyed by task, one scoring. */
type StateV1 = Omit<BenchState, 'version' | 'casamImages'> & { version: 1; casamImages?: CasamImage[] };

/**
 * A version-1 state, read as version 2: its layers are the paper order's (the same seeds and folders), so only
 * the other orders' layers remain to train.
 */
function fromV1(old: StateV1): BenchState {
  return {
    ...old,
    version: 2,
    casamTasks: Object.fromEntries(
      Object.entries(old.casamTasks).map(([task, rec]) => [casamTaskKey(0, task), rec]),
    ),
    casamImages: old.casamImages ? { '0': old.casamImages } : {},
  };
}

export function saveState(path: string, state: BenchState): void {
  writeFileAtomic(path, JSON.stringify(state) + '\n');
}
