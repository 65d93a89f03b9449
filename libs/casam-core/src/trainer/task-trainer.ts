/**
 * The whole local pipeline for one task, as a site runs it:
 *
 *   embed     frozen encoder → on-disk cache, train and validation images (only missing entries are computed)
 *   align     Alignment Layer on the cached embeddings (al-trainer.ts), with the opt-in decoder LoRA delta
 *   features  attention-pooled RAW embeddings of the training images (the router's feature, before any AL)
 *   vae       TaskVAE on those features
 *   tau       τ = p97 of 5-fold held-out VAE scores (`tau.percentile` to take another)
 *   evaluate  box prompt per validation region: trained AL next to frozen SAM and box-fill (decoder on TF.js, or
 *             on `validationEngine`, e.g. ONNX Runtime)
 *   write     the adapter file (align + vae tensors, τ stats, metrics) that the coordinator validates
 *
 * Every phase's output is saved atomically in `workDir` (the AL and VAE also checkpoint inside their phase), so an
 * interrupted run — AbortSignal, crash, reboot — resumes where it stopped when called again with the same
 * options and data: finished phases are read back, never recomputed. `task-state.json` pins the configuration;
 * a call with other options or data refuses to mix results (pass `restart: true` to start over). Only the
 * embed phase runs the encoder.
 */
import type { RegionOptions } from './regions';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../sam/tf';
import { ADAPTER_LIMITS, AdapterMetadata, readAdapterFile, writeAdapterFile } from '../casam/adapter-file';
import { AlignmentLayer, IDENTITY_ALIGNMENT, createAlignmentLayer } from '../casam/align-layer';
import { type DecoderLora, createDecoderLora } from '../casam/decoder-lora';
import type { AdapterDecoderLoraMetadata } from '@casam/protocol';
import { attentionPool } from '../casam/attention-pool';
import { deriveSeed } from '../random/seeded-random';
import {
  DEFAULT_VAE_OPTIONS,
  TaskVae,
  VaeTrainingCheckpoint,
  VaeTrainingProgress,
  trainTaskVae,
  vaeEpochsFor,
} from '../casam/task-vae';
import { DEFAULT_TAU_PERCENTILE, TauCalibrationProgress, calibrateTau } from '../casam/tau-calibration';
import { TauCalibrationError, TauStats, tauStatsFromScores } from '../casam/tau-stats';
import { gridSize } from '../sam/config';
import type { SamEngine } from '../sam/engine';
import type { Sam } from '../sam/sam';
import { HostTensor, StateDict, float32Tensor } from '../tensor/host-tensor';
import { readSafetensors, writeSafetensors } from '../weights/safetensors';
import {
  AlTimings,
  AlTrainingProgress,
  DecoderLoraTrainingOptions,
  IntensityJitter,
  LossResolution,
  trainAlignmentLayer,
} from './al-trainer';
import { writeFileAtomic } from '../io/atomic-file';
import { MethodScores, evaluateBoxPrompts } from './box-prompt-evaluator';
import { EmbedProgress, ensureEmbeddings, loadEmbedding } from './embedding-cache';
import type { PromptSamplerOptions } from './prompt-sampler';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import type { EmbeddedItem, ItemSource, RegionMask, TrainingItem } from './training-item';

export type TaskPhase = 'embed' | 'align' | 'features' | 'vae' | 'tau' | 'evaluate' | 'write';
export const TASK_PHASES: readonly TaskPhase[] = [
  'embed',
  'align',
  'features',
  'vae',
  'tau',
  'evaluate',
  'write',
];

export interface TaskProgress {
  phase: TaskPhase;
  /** start → progress* → done, or `cached` when a previous run finished the phase. */
  status: 'start' | 'progress' | 'done' | 'cached';
  /** `done`: seconds the phase took in this run. */
  seconds?: number;
  embed?: EmbedProgress & { split: 'train' | 'val' };
  align?: AlTrainingProgress;
  vae?: VaeTrainingProgress;
  tau?: { fold: number; folds: number };
  evaluate?: { done: number; total: number };
}

export interface TaskAlOptions {
  epochs?: number;
  batchImages?: number;
  regionsPerImage?: number;
  /** What one region is, in training and in the evaluation (default: connected components; splitRegions). */
  regions?: RegionOptions;
  /** Default: DEFAULT_AL_LR of the preset. */
  lr?: number;
  jitter?: Partial<IntensityJitter>;
  prompts?: PromptSamplerOptions;
  lossResolution?: LossResolution;
  /** Checkpoint inside an epoch every this many steps (epochs always end with one). */
  checkpointEverySteps?: number;
  /** See TrainAlignmentLayerOptions.maxPromptsPerPass (vit_b on wasm: 2 or 3). */
  maxPromptsPerPass?: number;
  /**
   * Also train a low-rank delta on the frozen mask decoder with the AL (opt-in; default off = the paper's
   * AL-only adapter, version 1 file). The delta is evaluated with the AL and written into the adapter (version 2).
   */
  decoderLora?: DecoderLoraTrainingOptions;
}

export interface TrainTaskOptions {
  taskId: string;
  train: ItemSource<TrainingItem>;
  val: ItemSource<TrainingItem>;
  /** Runs the frozen encoder to fill the cache (TF.js or ONNX Runtime). */
  engine: SamEngine;
  /** The same base model in TF.js: its prompt encoder and mask decoder train the AL (and evaluate it by default). */
  sam: Sam;
  /**
   * Runs the evaluate phase's decoder (the trained AL's and frozen SAM's box prompts) instead of `sam`, e.g. the
   * ONNX Runtime engine (issue 18); a decoder delta still decodes on TF.js. Default: TF.js. Not part of the pinned
   * configuration: engines differ only in float rounding.
   */
  validationEngine?: SamEngine;
  /** Written into the adapter; `fingerprint` is stateDictFingerprint of the base weights and keys the cache. */
  baseModel: { preset: string; fingerprint: string };
  cacheDir: string;
  /** Phase outputs and checkpoints of this task. */
  workDir: string;
  /** Default `<workDir>/adapter.safetensors`. */
  outPath?: string;
  seed?: number;
  al?: TaskAlOptions;
  /** Named `epochs` without `minSteps`: exactly that many epochs (see TrainTaskVaeOptions.minSteps). */
  vae?: { epochs?: number; batchSize?: number; lr?: number; minSteps?: number };
  tau?: { folds?: number; percentile?: number };
  /** Boundary IoU in the evaluation (default true). */
  boundaryIou?: boolean;
  /** Discard the phase outputs in workDir first. */
  restart?: boolean;
  /** Default: now. Fixed values make the adapter file byte-for-byte reproducible. */
  createdAt?: Date;
  onProgress?: (p: TaskProgress) => void;
  signal?: AbortSignal;
}

/** Aggregate validation metrics of one method. */
export interface TaskMetricSummary {
  iou: number;
  dice: number;
  boundaryIou?: number;
  images: number;
  regions: number;
}

export interface TaskTrainingResult {
  adapterPath: string;
  metadata: AdapterMetadata;
  tau: TauStats;
  evaluation: { align: TaskMetricSummary; frozen: TaskMetricSummary; boxFill: TaskMetricSummary };
  al: { epochLosses: number[]; timings: AlTimings | null; lr: number };
  vaeEpochLosses: number[];
  /** Seconds per phase in this run (phases read back from disk count as 0). */
  phaseSeconds: Record<TaskPhase, number>;
  /** Phases a previous run had finished. */
  cachedPhases: TaskPhase[];
}

/** `workDir` holds the results of a run with other options or data. */
export class TaskStateMismatchError extends Error {
  override name = 'TaskStateMismatchError';
}

const FILES = {
  state: 'task-state.json',
  alCheckpoint: 'al-checkpoint.safetensors',
  align: 'align.safetensors',
  decoderLora: 'decoder-lora.safetensors',
  features: 'features.safetensors',
  vaeCheckpoint: 'vae-checkpoint.safetensors',
  vae: 'vae.safetensors',
  tauFolds: 'tau-folds.json',
  tau: 'tau.json',
  evaluation: 'evaluation.json',
} as const;

const IDENT = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

function checkIdent(what: string, v: string): void {
  if (typeof v !== 'string' || !IDENT.test(v) || v.length > ADAPTER_LIMITS.maxStringLength)
    throw new TrainerInputError(
      `${what} must be 1..${ADAPTER_LIMITS.maxStringLength} letters, digits and . _ : - (starting with a letter or digit), got ${JSON.stringify(v)}`,
    );
}

function writeStateDictFile(path: string, sd: StateDict, meta: object = {}): void {
  writeFileAtomic(path, writeSafetensors([...sd], { casam: JSON.stringify(meta) }));
}

function readStateDictFile<M>(path: string): { sd: StateDict; meta: M } {
  const f = readSafetensors(new Uint8Array(readFileSync(path)));
  return { sd: f.tensors, meta: JSON.parse(f.metadata['casam'] ?? '{}') as M };
}

function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, JSON.stringify(v, null, 1) + '\n');
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function prefixed(prefix: string, sd: StateDict): [string, HostTensor][] {
  return [...sd].map(([k, v]) => [prefix + k, v]);
}

function unprefixed(prefix: string, sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** Embeds a split, keeping each item's masks (checked against its image size) for the later phases. */
async function embedSplit(
  split: 'train' | 'val',
  source: ItemSource<TrainingItem>,
  opts: TrainTaskOptions,
): Promise<EmbeddedItem[]> {
  const kept: { id: string; masks: RegionMask[] }[] = [];
  async function* checked(): AsyncGenerator<TrainingItem> {
    for await (const it of source) {
      const n = it.image.width * it.image.height;
      for (const m of it.masks)
        if (m.mask.length !== n)
          throw new TrainerInputError(
            `${split} item ${it.id}: mask ${m.classId} has ${m.mask.length} values, the image ${it.image.width}×${it.image.height}`,
          );
      kept.push({ id: it.id, masks: it.masks });
      yield it;
    }
  }
  const handles = await ensureEmbeddings(checked(), opts.engine, {
    cacheDir: opts.cacheDir,
    fingerprint: opts.baseModel.fingerprint,
    total: Array.isArray(source) ? source.length : undefined,
    signal: opts.signal,
    onProgress: (p) => opts.onProgress?.({ phase: 'embed', status: 'progress', embed: { ...p, split } }),
  });
  return handles.map((handle, i) => ({ id: kept[i].id, handle, masks: kept[i].masks }));
}

function dataDigest(items: readonly EmbeddedItem[]): string {
  const h = createHash('sha256');
  for (const it of items) {
    h.update(`${it.id}\0${it.handle.key}\0`);
    for (const m of it.masks) h.update(`${m.classId}\0`).update(m.mask);
  }
  return h.digest('hex');
}

function summary(m: MethodScores): TaskMetricSummary {
  const a = m.aggregate;
  const s: TaskMetricSummary = { iou: a.iou, dice: a.dice, images: a.images, regions: a.regions };
  if (a.boundaryIou !== undefined) s.boundaryIou = a.boundaryIou;
  return s;
}

/** What every phase of one run shares: the options with their defaults, the model's shape, files, reporting. */
interface TaskRun {
  opts: TrainTaskOptions;
  sam: Sam;
  channels: number;
  /** Embedding grid side. */
  g: number;
  seed: number;
  al: TaskAlOptions;
  vaeOpts: { epochs: number; batchSize: number; lr: number; minSteps: number };
  tauOpts: { folds: number; percentile: number };
  file: (k: keyof typeof FILES) => string;
  outPath: string;
  emit: (p: TaskProgress) => void;
  phaseSeconds: Record<TaskPhase, number>;
  cachedPhases: TaskPhase[];
}

type AlignMeta = { epochLosses: number[]; lr: number };
/** The align phase's output: the AL's weights, its losses and lr, and the decoder delta when one was trained. */
type AlignOut = {
  sd: StateDict;
  meta: AlignMeta;
  lora?: { sd: StateDict; meta: AdapterDecoderLoraMetadata };
};
type VaeOut = { sd: StateDict; meta: { epochLosses: number[] } };
type Evaluation = TaskTrainingResult['evaluation'];

const aborted = (phase: string, detail: string): TrainingAbortedError =>
  new TrainingAbortedError(phase, detail);

/** Checks the names and that the engine and the TF.js model are the same shape; resolves the defaults. */
function startRun(opts: TrainTaskOptions): TaskRun {
  checkIdent('taskId', opts.taskId);
  checkIdent('baseModel.preset', opts.baseModel.preset);
  const { sam, engine } = opts;
  const cfg = sam.config;
  if (engine.config.outChans !== cfg.outChans || engine.config.imgSize !== cfg.imgSize)
    throw new TrainerInputError(
      `engine (${engine.config.name}: C=${engine.config.outChans}, ${engine.config.imgSize} px) and model (${cfg.name}: C=${cfg.outChans}, ${cfg.imgSize} px) differ`,
    );
  const dir = opts.workDir;
  return {
    opts,
    sam,
    channels: cfg.outChans,
    g: gridSize(cfg),
    seed: opts.seed ?? 0,
    al: { ...opts.al },
    vaeOpts: {
      ...DEFAULT_VAE_OPTIONS,
      ...opts.vae,
      minSteps: opts.vae?.minSteps ?? (opts.vae?.epochs === undefined ? DEFAULT_VAE_OPTIONS.minSteps : 0),
    },
    tauOpts: { folds: 5, percentile: DEFAULT_TAU_PERCENTILE, ...opts.tau },
    file: (k) => join(dir, FILES[k]),
    outPath: opts.outPath ?? join(dir, 'adapter.safetensors'),
    emit: (p) => opts.onProgress?.(p),
    phaseSeconds: Object.fromEntries(TASK_PHASES.map((p) => [p, 0])) as Record<TaskPhase, number>,
    cachedPhases: [],
  };
}

/** `restart`: removes every phase output and the adapter. */
function clearWorkDir(run: TaskRun): void {
  for (const k of Object.keys(FILES) as (keyof typeof FILES)[]) rmSync(run.file(k), { force: true });
  rmSync(run.outPath, { force: true });
}

/** Runs a phase unless `isDone`; reports start/done/cached and the time taken. */
async function runPhase<T>(
  run: TaskRun,
  name: TaskPhase,
  isDone: boolean,
  body: () => Promise<T>,
  load?: () => T,
): Promise<T> {
  if (isDone && load) {
    run.cachedPhases.push(name);
    run.emit({ phase: name, status: 'cached' });
    return load();
  }
  if (run.opts.signal?.aborted) throw aborted(name, 'stopped before the phase began');
  run.emit({ phase: name, status: 'start' });
  const t0 = performance.now();
  const out = await body();
  run.phaseSeconds[name] = (performance.now() - t0) / 1000;
  run.emit({ phase: name, status: 'done', seconds: run.phaseSeconds[name] });
  return out;
}

/** embed: always runs; the cache makes a repeat cheap (hashing only). Checks the splits' sizes. */
async function embedPhase(run: TaskRun): Promise<{ train: EmbeddedItem[]; val: EmbeddedItem[] }> {
  const { opts } = run;
  run.emit({ phase: 'embed', status: 'start' });
  const t0 = performance.now();
  const train = await embedSplit('train', opts.train, opts);
  const val = await embedSplit('val', opts.val, opts);
  run.phaseSeconds.embed = (performance.now() - t0) / 1000;
  run.emit({ phase: 'embed', status: 'done', seconds: run.phaseSeconds.embed });
  if (train.length < run.tauOpts.folds)
    throw new TrainerInputError(
      `τ calibration needs at least ${run.tauOpts.folds} training images, got ${train.length}`,
    );
  if (val.length === 0) throw new TrainerInputError('the validation split is empty');
  return { train, val };
}

/** Pins the configuration in `task-state.json`; refuses a workDir that holds a run with other options or data. */
function pinConfiguration(run: TaskRun, train: readonly EmbeddedItem[], val: readonly EmbeddedItem[]): void {
  const { opts, al } = run;
  const cfg = run.sam.config;
  const config = {
    taskId: opts.taskId,
    baseModel: opts.baseModel,
    model: { name: cfg.name, channels: run.channels, imgSize: cfg.imgSize },
    seed: run.seed,
    al,
    // The region rule with its defaults spelled out, so a run from before it cannot be resumed under it.
    regions: { split: al.regions?.split ?? 'components', minPixels: al.regions?.minPixels ?? 'auto' },
    vae: run.vaeOpts,
    // Not the percentile: another one is taken from the same held-out scores (tauPhase).
    tau: { folds: run.tauOpts.folds },
    boundaryIou: opts.boundaryIou ?? true,
    train: dataDigest(train),
    val: dataDigest(val),
  };
  const hash = (c: object): string => createHash('sha256').update(JSON.stringify(c)).digest('hex');
  const configHash = hash(config);
  if (existsSync(run.file('state'))) {
    const st = readJson<{ configHash?: string }>(run.file('state'));
    // Runs pinned before the percentile was an option hashed it (always 97 then); they resume as they are.
    const legacyHash = hash({
      ...config,
      tau: { folds: run.tauOpts.folds, percentile: DEFAULT_TAU_PERCENTILE },
    });
    if (st.configHash !== configHash && st.configHash !== legacyHash)
      throw new TaskStateMismatchError(
        `${opts.workDir} holds a run of task ${opts.taskId} with other options or data; pass restart: true to discard it`,
      );
  } else writeJson(run.file('state'), { format: 'casam-task-state', version: 1, configHash, config });
}

/** align: the Alignment Layer (and the opt-in decoder delta) on the training embeddings. */
async function alignPhase(
  run: TaskRun,
  train: readonly EmbeddedItem[],
): Promise<{ out: AlignOut; timings: AlTimings | null }> {
  const { al, file, emit } = run;
  let timings: AlTimings | null = null;
  const out = await runPhase<AlignOut>(
    run,
    'align',
    existsSync(file('align')),
    async () => {
      const r = await trainAlignmentLayer({
        sam: run.sam,
        items: train,
        channels: run.channels,
        epochs: al.epochs,
        batchImages: al.batchImages,
        regionsPerImage: al.regionsPerImage,
        regions: al.regions,
        lr: al.lr,
        seed: deriveSeed(run.seed, 'task-align'),
        jitter: al.jitter,
        prompts: al.prompts,
        lossResolution: al.lossResolution,
        maxPromptsPerPass: al.maxPromptsPerPass,
        decoderLora: al.decoderLora,
        checkpoint: { path: file('alCheckpoint'), everySteps: al.checkpointEverySteps },
        signal: run.opts.signal,
        onProgress: (p) => emit({ phase: 'align', status: 'progress', align: p }),
      });
      try {
        const sd = r.align.stateDict();
        const meta: AlignMeta = { epochLosses: r.epochLosses, lr: r.lr };
        const o: AlignOut = { sd, meta };
        if (r.decoderLora) {
          o.lora = { sd: r.decoderLora.stateDict(), meta: r.decoderLora.metadata() };
          // Before the AL file: that one marks the phase done.
          writeStateDictFile(file('decoderLora'), o.lora.sd, o.lora.meta);
        }
        writeStateDictFile(file('align'), sd, meta);
        timings = r.timings;
        return o;
      } finally {
        r.align.dispose();
        r.decoderLora?.dispose();
      }
    },
    () => {
      const o: AlignOut = readStateDictFile<AlignMeta>(file('align'));
      if (al.decoderLora) o.lora = readStateDictFile<AdapterDecoderLoraMetadata>(file('decoderLora'));
      return o;
    },
  );
  return { out, timings };
}

/** features: attention-pooled raw embeddings of the training images [N, C] (the router's feature). */
function featuresPhase(run: TaskRun, train: readonly EmbeddedItem[]): Promise<HostTensor> {
  const { channels, g, file } = run;
  return runPhase<HostTensor>(
    run,
    'features',
    existsSync(file('features')),
    async () => {
      const data = new Float32Array(train.length * channels);
      train.forEach((it, i) => {
        const e = loadEmbedding(it.handle);
        const f = tf.tidy(() =>
          attentionPool(tf.tensor4d(e.embeddings.data as Float32Array, [1, channels, g, g])),
        );
        data.set(f.dataSync() as Float32Array, i * channels);
        f.dispose();
      });
      const t = float32Tensor([train.length, channels], data);
      writeStateDictFile(file('features'), new Map([['features', t]]), { ids: train.map((it) => it.id) });
      return t;
    },
    () => readStateDictFile(file('features')).sd.get('features')!,
  );
}

/** vae: the TaskVAE on the features, resumed from its checkpoint. */
function vaePhase(run: TaskRun, features: HostTensor): Promise<VaeOut> {
  const { file, vaeOpts, emit } = run;
  return runPhase<VaeOut>(
    run,
    'vae',
    existsSync(file('vae')),
    async () => {
      let resume: VaeTrainingCheckpoint | undefined;
      if (existsSync(file('vaeCheckpoint'))) {
        const c = readStateDictFile<{ completedEpochs: number; epochLosses: number[] }>(
          file('vaeCheckpoint'),
        );
        resume = {
          completedEpochs: c.meta.completedEpochs,
          epochLosses: c.meta.epochLosses,
          vae: unprefixed('vae.', c.sd),
          optimizer: unprefixed('adam.', c.sd),
        };
      }
      let vae: TaskVae | undefined;
      try {
        const r = await trainTaskVae(features, {
          ...vaeOpts,
          seed: deriveSeed(run.seed, 'task-vae'),
          signal: run.opts.signal,
          resume,
          onProgress: (p) => emit({ phase: 'vae', status: 'progress', vae: p }),
          onCheckpoint: (c) =>
            writeFileAtomic(
              file('vaeCheckpoint'),
              writeSafetensors([...prefixed('vae.', c.vae), ...prefixed('adam.', c.optimizer)], {
                casam: JSON.stringify({ completedEpochs: c.completedEpochs, epochLosses: c.epochLosses }),
              }),
            ),
        });
        vae = r.vae;
        if (r.stopped)
          throw aborted(
            'VAE training',
            `stopped after ${r.completedEpochs} of ${vaeEpochsFor(features.shape[0], vaeOpts)} epochs`,
          );
        const sd = vae.stateDict();
        const meta = { epochLosses: r.epochLosses };
        writeStateDictFile(file('vae'), sd, meta);
        return { sd, meta };
      } finally {
        vae?.dispose();
      }
    },
    () => readStateDictFile<{ epochLosses: number[] }>(file('vae')),
  );
}

/** Every fold's held-out scores from `tau-folds.json`, pooled; null when the file is missing or a fold is not done. */
function storedHeldOutScores(path: string): Float32Array | null {
  if (!existsSync(path)) return null;
  const { folds } = readJson<{ folds: (number[] | null)[] }>(path);
  if (!Array.isArray(folds) || folds.length === 0 || folds.some((f) => !Array.isArray(f))) return null;
  return Float32Array.from((folds as number[][]).flat());
}

/**
 * tau: τ from k-fold held-out VAE scores; each finished fold is saved, so a resumed run skips it. A finished run
 * asked for another percentile takes τ from the same stored held-out scores, without training any VAE again.
 */
function tauPhase(run: TaskRun, features: HostTensor): Promise<TauStats> {
  const { file, tauOpts, emit } = run;
  const { signal } = run.opts;
  const cached = existsSync(file('tau')) ? readJson<TauStats>(file('tau')) : null;
  const retake =
    cached !== null && cached.percentile !== tauOpts.percentile
      ? storedHeldOutScores(file('tauFolds'))
      : null;
  return runPhase<TauStats>(
    run,
    'tau',
    cached !== null && (cached.percentile === tauOpts.percentile || retake !== null),
    async () => {
      const folds: (number[] | null)[] = existsSync(file('tauFolds'))
        ? readJson<{ folds: (number[] | null)[] }>(file('tauFolds')).folds
        : new Array<number[] | null>(tauOpts.folds).fill(null);
      try {
        const r = await calibrateTau(features, {
          folds: tauOpts.folds,
          percentile: tauOpts.percentile,
          seed: deriveSeed(run.seed, 'task-tau'),
          vaeOptions: run.vaeOpts,
          signal,
          resumeFoldScores: folds.map((f) => (f ? Float32Array.from(f) : null)),
          onProgress: (p: TauCalibrationProgress) => {
            folds[p.fold - 1] = Array.from(p.scores);
            writeJson(file('tauFolds'), { folds });
            emit({ phase: 'tau', status: 'progress', tau: { fold: p.fold, folds: p.folds } });
          },
        });
        const stats: TauStats = {
          tau: r.tau,
          p95: r.p95,
          p99: r.p99,
          mean: r.mean,
          std: r.std,
          n: r.n,
          percentile: r.percentile,
        };
        writeJson(file('tau'), stats);
        return stats;
      } catch (e) {
        if (e instanceof TauCalibrationError && signal?.aborted) throw aborted('τ calibration', e.message);
        throw e;
      }
    },
    () => {
      if (retake === null) return cached!;
      const stats = tauStatsFromScores(retake, tauOpts.percentile);
      writeJson(file('tau'), stats);
      return stats;
    },
  );
}

/** evaluate: box prompts on the validation images, the trained AL (with its delta) next to frozen SAM and box-fill. */
function evaluatePhase(run: TaskRun, val: readonly EmbeddedItem[], alignOut: AlignOut): Promise<Evaluation> {
  const { channels, file, emit, opts } = run;
  return runPhase<Evaluation>(
    run,
    'evaluate',
    existsSync(file('evaluation')),
    async () => {
      const align: AlignmentLayer = createAlignmentLayer({
        channels,
        stateDict: alignOut.sd,
        trainable: false,
      });
      const lora: DecoderLora | undefined = alignOut.lora
        ? createDecoderLora({
            channels,
            ...alignOut.lora.meta,
            stateDict: alignOut.lora.sd,
            trainable: false,
          })
        : undefined;
      try {
        const r = await evaluateBoxPrompts({
          sam: run.sam,
          ...(opts.validationEngine ? { engine: opts.validationEngine } : {}),
          items: val,
          transforms: { align, frozen: IDENTITY_ALIGNMENT },
          ...(lora ? { decoderDeltas: { align: lora } } : {}),
          regions: run.al.regions,
          boundary: opts.boundaryIou ?? true,
          signal: opts.signal,
          onProgress: (p) => emit({ phase: 'evaluate', status: 'progress', evaluate: p }),
        });
        const out: Evaluation = {
          align: summary(r.methods['align']),
          frozen: summary(r.methods['frozen']),
          boxFill: summary(r.methods['boxFill']),
        };
        writeJson(file('evaluation'), out);
        return out;
      } finally {
        align.dispose();
        lora?.dispose();
      }
    },
    () => readJson<Evaluation>(file('evaluation')),
  );
}

/** write: the adapter file (AL, VAE, delta, τ, metrics), written atomically and read back for its metadata. */
function writePhase(
  run: TaskRun,
  r: { trainImages: number; alignOut: AlignOut; vaeOut: VaeOut; tau: TauStats; evaluation: Evaluation },
): Promise<AdapterMetadata> {
  const { opts } = run;
  const { alignOut, vaeOut, tau, evaluation } = r;
  return runPhase<AdapterMetadata>(run, 'write', false, async () => {
    const metrics: Record<string, number> = {
      iou: evaluation.align.iou,
      dice: evaluation.align.dice,
      frozen_iou: evaluation.frozen.iou,
      frozen_dice: evaluation.frozen.dice,
      boxfill_iou: evaluation.boxFill.iou,
      val_images: evaluation.align.images,
      val_regions: evaluation.align.regions,
      train_images: r.trainImages,
      al_epochs: alignOut.meta.epochLosses.length,
      al_final_loss: alignOut.meta.epochLosses[alignOut.meta.epochLosses.length - 1],
      al_lr: alignOut.meta.lr,
      vae_final_loss: vaeOut.meta.epochLosses[vaeOut.meta.epochLosses.length - 1],
    };
    if (evaluation.align.boundaryIou !== undefined) metrics['boundary_iou'] = evaluation.align.boundaryIou;
    if (evaluation.frozen.boundaryIou !== undefined)
      metrics['frozen_boundary_iou'] = evaluation.frozen.boundaryIou;
    const bytes = writeAdapterFile({
      taskId: opts.taskId,
      baseModel: { preset: opts.baseModel.preset, fingerprint: opts.baseModel.fingerprint },
      tau,
      metrics,
      createdAt: opts.createdAt,
      align: alignOut.sd,
      vae: vaeOut.sd,
      ...(alignOut.lora
        ? { decoderLora: { metadata: alignOut.lora.meta, stateDict: alignOut.lora.sd } }
        : {}),
    });
    writeFileAtomic(run.outPath, bytes);
    return readAdapterFile(bytes, { channels: run.channels }).metadata;
  });
}

/**
 * Trains, calibrates, evaluates and packages one task's adapter, one phase function per step of the file header.
 * Throws TrainingAbortedError when the signal stops it; calling again with the same options resumes.
 */
export async function trainTask(opts: TrainTaskOptions): Promise<TaskTrainingResult> {
  const run = startRun(opts);
  if (opts.restart) clearWorkDir(run);
  const { train, val } = await embedPhase(run);
  pinConfiguration(run, train, val);
  const { out: alignOut, timings: alTimings } = await alignPhase(run, train);
  const features = await featuresPhase(run, train);
  const vaeOut = await vaePhase(run, features);
  const tau = await tauPhase(run, features);
  const evaluation = await evaluatePhase(run, val, alignOut);
  const metadata = await writePhase(run, { trainImages: train.length, alignOut, vaeOut, tau, evaluation });
  return {
    adapterPath: run.outPath,
    metadata,
    tau,
    evaluation,
    al: { epochLosses: alignOut.meta.epochLosses, timings: alTimings, lr: alignOut.meta.lr },
    vaeEpochLosses: vaeOut.meta.epochLosses,
    phaseSeconds: run.phaseSeconds,
    cachedPhases: run.cachedPhases,
  };
}
