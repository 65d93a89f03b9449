/**
 * Trains one task's Alignment Layer on cached embeddings, SAM frozen (CASAM-SPEC "Training an AL"):
 *
 *   per step   B images × R regions: cached embeddings → intensity jitter → AL (trainable) → mask decoder
 *              (frozen, multimask off) with prompts sampled from the masks → logits → focal + Dice + IoU-MSE →
 *              Adam on the AL's weights only. No learning-rate schedule; the last epoch is kept.
 *
 * Choices, and why:
 * - Intensity jitter acts on the embedding. The spec jitters the image (scale and shift ±0.2, p = 0.2), but the
 *   trainer must never re-run the encoder, so the same augmentation is applied where the trainer has data:
 *   with probability p an image's embedding becomes (1 + a)·z + b·σ(z), a ~ U(±scale), b ~ U(±shift), σ(z) the
 *   embedding's standard deviation. It perturbs the AL's input the way a contrast/brightness change perturbs
 *   features, without the 40 s (vit_b, wasm) encoder pass per augmented image.
 * - Loss frame: the spec computes the loss "on mask logits upsampled to input size". `lossResolution: 'input'`
 *   does exactly that with postprocessMasksTf (a differentiable bilinear matMul; TF.js's own resize gradient is
 *   wrong) to the padded imgSize² frame, the ground truth resized like the image. `'low'` compares at the
 *   decoder's 4g × 4g output instead (ground truth resized to the input frame, then block-averaged), 16× fewer
 *   loss pixels. The default is per preset (DEFAULT_LOSS_RESOLUTION): the spec's frame for the official models,
 *   the low-res frame for the small ones, where it trained as well for about 30% less time.
 * - Regions: each image contributes exactly R prompts (the decoder pairs image i with prompts i·R..i·R+R−1);
 *   an image with fewer non-empty regions repeats them (each repeat gets its own prompt), images with none are
 *   left out.
 * - Randomness: the epoch's image order comes from deriveSeed(seed, 'al-order', epoch), everything inside a
 *   step (regions, jitter, prompt kind, boxes, points) from deriveSeed(seed, 'al-step', epoch, step). So the
 *   seed and the position are the entire RNG state, and a run resumed from a checkpoint (mid-epoch included)
 *   reproduces an uninterrupted one bit for bit.
 * - Decoder delta (opt-in, `decoderLora`): a low-rank delta on the frozen decoder's attention projections and
 *   hypernetwork MLPs (casam/decoder-lora.ts) trains jointly with the AL: same loss, same Adam step (its variables
 *   are added to the optimizer under `decoder_lora.<layer>.A/B`), the decoder's own weights untouched. Its A is
 *   initialised from deriveSeed(seed, 'decoder-lora-init'), a stream of its own, and B starts at zero, so the
 *   first forward is exactly the AL-only one; with the option off nothing in the run changes (same RNG streams,
 *   same checkpoint hash).
 * - Timing: a pass-through marker with a custom gradient sits between the AL and the decoder and another
 *   between the decoder and the loss head; their forward and backward calls time-stamp the phases of the one
 *   fused backward pass without running anything twice. Exact on synchronous backends (wasm, cpu, tfjs-node on
 *   CPU); on a GPU the stamps measure kernel dispatch.
 */
import { RegionOptions, countRegions, splitRegions } from './regions';
import { createHash } from 'node:crypto';
import { ensureGradients, tf } from '../sam/tf';
import { AdamOptimizer, createAdam } from '../casam/adam-optimizer';
import { AlignmentLayer, createAlignmentLayer } from '../casam/align-layer';
import { DecoderLora, assertDecoderLoraFits, createDecoderLora } from '../casam/decoder-lora';
import { LossWeights, segmentationLoss } from '../casam/losses';
import { Rng, createRng, deriveSeed, shuffledIndices } from '../random/seeded-random';
import { gridSize } from '../sam/config';
import type { PromptEmbeddings } from '../sam/prompt-encoder';
import { Sam } from '../sam/sam';
import { postprocessMasksTf } from '../sam/transforms';
import { StateDict, toFloat32 } from '../tensor/host-tensor';
import { AlCheckpointError, readAlCheckpoint, writeAlCheckpoint } from './al-checkpoint';
import { CachedEmbedding, loadEmbedding } from './embedding-cache';
import {
  MaskRef,
  ModelFramePrompts,
  PromptSamplerOptions,
  ResolvedPromptSamplerOptions,
  downsampleMask,
  maskToInputFrame,
  resolvePromptSamplerOptions,
  samplePromptBatch,
  toModelFrame,
} from './prompt-sampler';
import { TensorLeakError, TrainerInputError, TrainingAbortedError } from './trainer-errors';
import type { EmbeddedItem } from './training-item';

/**
 * Default Adam learning rate of the Alignment Layer per base-model preset. vit_b/l/h: the paper's 1e-4 (ViT-B at
 * 1024 px). The 256 px, C = 64 presets: 1e-3, from the seeded sweep `npx tsx bench/al-step.bench.ts --lr-sweep`
 * (2026-11-26, wasm, 2 shared cores; numbers in bench/results/al-step.json under lrSweep):
 *   base      sam-mini fixture encoder; its decoder warmed up 240 steps on generic disc/ring images (held-out box
 *             IoU 0.78). The raw fixture is a random init whose decoder hardly reacts to the embedding: there
 *             every lr only lowers IoU (acdc 0.022 → 0.006 / 0.000 / 0.000 after 10 epochs), which says nothing.
 *   data      data-generator domains acdc-cardiac-mr and polyp-endoscopy, 256 px, 24 train / 12 val images,
 *             batch 6 × 5, 10 epochs, seeds 1 and 2, box-prompt validation IoU after every epoch
 *   score     mean IoU of the last 3 epochs over domains and seeds: lr 1e-4 → 0.221, 3e-4 → 0.246, 1e-3 → 0.285
 *             (frozen base 0.181); acdc at epoch 10: 0.281 / 0.345 / 0.369 (seed 1), 0.285 / 0.342 / 0.389 (seed 2)
 * 1e-3 learned fastest on both domains and both seeds without diverging, matching the PyTorch check on the tiny
 * model. These runs are short (40 steps), so the ranking is about speed, not the final plateau.
 * Checked again on the shipped casam-tiny with the full schedule (`npm run bench:al-lr`, 2026-11-27; numbers in
 * bench/results/al-lr.json): 24 epochs on 30 training images of each of the nine seen domains, val-split IoU
 * averaged over the nine: lr 3e-4 → 0.764, 1e-3 → 0.763, 3e-3 → 0.768 (frozen 0.596, box-fill 0.696). The spread
 * is inside one seed's noise (single domains move ±0.05 between the 16th and 24th epoch), so 1e-3 stays.
 */
export const DEFAULT_AL_LR: Readonly<Record<string, number>> = Object.freeze({
  vit_b: 1e-4,
  vit_l: 1e-4,
  vit_h: 1e-4,
  'sam-mini': 1e-3,
  'casam-tiny': 1e-3,
  // casam-tiny's widths on a 32×32 grid: the same layer shapes, so casam-tiny's rate (not swept separately yet).
  'casam-small': 1e-3,
});

/** Alignment Layer epochs when the caller names none (`site-agent train --help` prints it). */
export const DEFAULT_AL_EPOCHS = 24;

/** The paper's value, for presets not in DEFAULT_AL_LR (e.g. a site's own export). */
export const FALLBACK_AL_LR = 1e-4;

export function defaultAlLr(preset: string): number {
  return Object.prototype.hasOwnProperty.call(DEFAULT_AL_LR, preset) ? DEFAULT_AL_LR[preset] : FALLBACK_AL_LR;
}

export type LossResolution = 'input' | 'low';

/**
 * Where the loss compares logits and ground truth, per preset. vit_b/l/h: the input frame (1024²), as the spec
 * says. Small presets: the decoder's 64² output — in the same sweep the validation IoU was the same (lr 1e-3:
 * 0.284 low vs 0.285 input; 3e-4: 0.243 vs 0.246) while an epoch took about 30% less time (loss head 3–6% of a
 * step instead of 33–37%, bench/al-step.bench.ts), which matters on CPU-only sites.
 */
export const DEFAULT_LOSS_RESOLUTION: Readonly<Record<string, LossResolution>> = Object.freeze({
  vit_b: 'input',
  vit_l: 'input',
  vit_h: 'input',
  'sam-mini': 'low',
  'casam-tiny': 'low',
  'casam-small': 'low',
});

export function defaultLossResolution(preset: string): LossResolution {
  return Object.prototype.hasOwnProperty.call(DEFAULT_LOSS_RESOLUTION, preset)
    ? DEFAULT_LOSS_RESOLUTION[preset]
    : 'input';
}

export interface IntensityJitter {
  /** Probability that an image's embedding is jittered. */
  p: number;
  /** a ~ U(±scale) in (1 + a)·z. */
  scale: number;
  /** b ~ U(±shift) in + b·σ(z). */
  shift: number;
}

export const DEFAULT_INTENSITY_JITTER: Readonly<IntensityJitter> = Object.freeze({
  p: 0.2,
  scale: 0.2,
  shift: 0.2,
});

/**
 * An extra term added to every step's loss that depends only on the AL's weights, e.g. an EWC penalty for a
 * shared layer trained on one task after another. `id` names it in the checkpoint's configuration hash, so a
 * checkpoint is only resumed under the same penalty.
 */
export interface AlRegularizer {
  id: string;
  /** Scalar penalty of the variables (by PyTorch name, TF layout); called inside the gradient tape. */
  penalty(vars: ReadonlyMap<string, tf.Variable>): tf.Scalar;
}

/** Train a low-rank delta on the frozen mask decoder with the AL (see the file header). */
export interface DecoderLoraTrainingOptions {
  /** Default DEFAULT_DECODER_LORA_RANK (4); at most 16. */
  rank?: number;
  /** Default: rank (scale alpha/rank = 1). */
  alpha?: number;
  /** Default: every layer the adapter schema allows (attention projections and hypernetwork MLPs). */
  layers?: readonly string[];
}

/** How the delta's variables are named in the optimizer, its state and the checkpoint. */
const LORA_PREFIX = 'decoder_lora.';

export interface AlCheckpointOptions {
  path: string;
  /** Write every this many epochs (default 1). */
  every?: number;
  /** Also write every this many steps inside an epoch (default: only at epoch ends). */
  everySteps?: number;
}

export interface AlTrainingProgress {
  kind: 'step' | 'epoch';
  /** 1-based epoch the event belongs to. */
  epoch: number;
  epochs: number;
  /** 1-based step inside the epoch (for `epoch` events: the epoch's step count). */
  step: number;
  stepsPerEpoch: number;
  /** `step`: that step's loss; `epoch`: the prompt-weighted mean over the epoch. */
  loss: number;
  /** `step` only. */
  terms?: { focal: number; dice: number; iouMse: number };
  /** Seconds this run has trained so far. */
  elapsedS: number;
  /** Seconds left at this run's pace. */
  etaS: number;
  /** `epoch` only: that epoch's seconds (when it ran entirely in this run). */
  epochS?: number;
}

export interface TrainAlignmentLayerOptions {
  /** The frozen base model. Only its prompt encoder, mask decoder and dense PE are used, never its encoder. */
  sam: Sam;
  /** Training items with cached embeddings. */
  items: readonly EmbeddedItem[];
  /** Must equal the model's embedding channels when given. */
  channels?: number;
  epochs?: number;
  batchImages?: number;
  regionsPerImage?: number;
  /** What one region is (default: each connected component of a class mask; see splitRegions). */
  regions?: RegionOptions;
  /** Default: DEFAULT_AL_LR of the model's preset. */
  lr?: number;
  seed?: number;
  jitter?: Partial<IntensityJitter>;
  prompts?: PromptSamplerOptions;
  /** Default: DEFAULT_LOSS_RESOLUTION of the model's preset. */
  lossResolution?: LossResolution;
  lossWeights?: Partial<LossWeights>;
  /**
   * Most prompts whose decoder activations are alive at once (default: all of a step). A step with more runs
   * the decoder in chunks and accumulates the gradients: same loss, less memory, one extra AL forward. The
   * decoder's backward keeps about 1 GB per prompt at vit_b size (4096 tokens) in TF.js, and the wasm heap
   * stops at 4 GB, so vit_b on wasm needs 3 or fewer; the small presets need about 40 MB per prompt.
   */
  maxPromptsPerPass?: number;
  /** Start from these AL weights instead of the seeded PyTorch-default initialisation. */
  initialStateDict?: StateDict;
  /** Added to the loss of every step (reported losses include it). */
  regularizer?: AlRegularizer;
  /** Also train a decoder LoRA delta (default: off, the paper's AL-only training). */
  decoderLora?: DecoderLoraTrainingOptions;
  onProgress?: (p: AlTrainingProgress) => void;
  /** Checked before every step; a stop throws TrainingAbortedError (the last checkpoint stays). */
  signal?: AbortSignal;
  /** Checkpointing; an existing checkpoint of the same configuration is resumed. */
  checkpoint?: AlCheckpointOptions;
  /** Throw TensorLeakError when a step leaves tensors behind (default true). */
  checkLeaks?: boolean;
  /** Clock in seconds (default performance.now()/1000). */
  now?: () => number;
}

/** Milliseconds per phase, summed over this run's steps. */
export interface AlPhaseTimes {
  /** Reading the cache, jitter, prompts, targets, prompt encoder. */
  data: number;
  alForward: number;
  decoderForward: number;
  /** Upsampling (lossResolution 'input') and the loss terms. */
  lossForward: number;
  lossBackward: number;
  decoderBackward: number;
  alBackward: number;
  /** Adam update. */
  optimizer: number;
}

export interface AlTimings {
  /** Steps run in this call (a resumed run counts only its own). */
  steps: number;
  /** Seconds of each epoch that ran entirely in this call. */
  secondsPerEpoch: number[];
  phasesMs: AlPhaseTimes;
  /** Shares of the step time: AL forward+backward, decoder forward+backward, loss head, data, optimizer. */
  share: { al: number; decoder: number; loss: number; data: number; optimizer: number };
}

export interface AlTrainingResult {
  /** The trained layer (last epoch); the caller disposes it. */
  align: AlignmentLayer;
  /** With `decoderLora`: the trained delta (last epoch); the caller disposes it. */
  decoderLora?: DecoderLora;
  epochLosses: number[];
  completedEpochs: number;
  /** Where this call started: 0 for a fresh run. */
  resumedFrom: { epoch: number; step: number };
  /** Images left out because none of their masks has a pixel. */
  skippedImages: string[];
  lr: number;
  timings: AlTimings;
}

export class AlTrainingError extends Error {
  override name = 'AlTrainingError';
}

interface PreparedItem {
  item: EmbeddedItem;
  /** Indices into the item's regions (splitRegions of its masks; recomputed when a batch is built). */
  regions: number[];
}

interface ResolvedConfig {
  channels: number;
  epochs: number;
  batchImages: number;
  regionsPerImage: number;
  regions: RegionOptions;
  lr: number;
  seed: number;
  jitter: IntensityJitter;
  prompts: ResolvedPromptSamplerOptions;
  lossResolution: LossResolution;
  lossWeights: Partial<LossWeights>;
  maxPromptsPerPass: number;
  /** Absent when off, so a run without it hashes as before. */
  decoderLora?: { rank: number; alpha: number; layers: string[] | 'all' };
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new TrainerInputError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function resolveConfig(o: TrainAlignmentLayerOptions): ResolvedConfig {
  const cfg = o.sam.config;
  const channels = o.channels ?? cfg.outChans;
  if (channels !== cfg.outChans)
    throw new TrainerInputError(`channels ${channels} do not match the model's ${cfg.outChans}`);
  const jitter = { ...DEFAULT_INTENSITY_JITTER, ...o.jitter };
  if (!(jitter.p >= 0 && jitter.p <= 1))
    throw new TrainerInputError(`jitter.p must lie in [0, 1], got ${jitter.p}`);
  for (const k of ['scale', 'shift'] as const)
    if (!(jitter[k] >= 0 && jitter[k] < 1))
      throw new TrainerInputError(`jitter.${k} must lie in [0, 1), got ${jitter[k]}`);
  const lr = o.lr ?? defaultAlLr(cfg.name);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new TrainerInputError(`lr must be positive, got ${lr}`);
  const lossResolution = o.lossResolution ?? defaultLossResolution(cfg.name);
  if (lossResolution !== 'input' && lossResolution !== 'low')
    throw new TrainerInputError(`lossResolution must be 'input' or 'low', got ${String(lossResolution)}`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new TrainerInputError(`seed must be an integer, got ${seed}`);
  return {
    channels,
    epochs: positiveInt('epochs', o.epochs ?? DEFAULT_AL_EPOCHS),
    batchImages: positiveInt('batchImages', o.batchImages ?? 6),
    regionsPerImage: positiveInt('regionsPerImage', o.regionsPerImage ?? 5),
    regions: { ...o.regions },
    lr,
    seed,
    jitter,
    prompts: resolvePromptSamplerOptions(o.prompts),
    lossResolution,
    lossWeights: { ...o.lossWeights },
    maxPromptsPerPass:
      o.maxPromptsPerPass === undefined ? Infinity : positiveInt('maxPromptsPerPass', o.maxPromptsPerPass),
    ...(o.decoderLora ? { decoderLora: resolveLora(o) } : {}),
  };
}

function resolveLora(o: TrainAlignmentLayerOptions): NonNullable<ResolvedConfig['decoderLora']> {
  const l = o.decoderLora!;
  try {
    assertDecoderLoraFits(o.sam.config);
    // Built once to check rank, alpha and layers with the schema's rules.
    const probe = createDecoderLora({ channels: o.sam.config.outChans, ...l, trainable: false });
    const r = {
      rank: probe.rank,
      alpha: probe.alpha,
      layers: l.layers ? [...probe.layers] : ('all' as const),
    };
    probe.dispose();
    return r;
  } catch (e) {
    throw new TrainerInputError(`decoderLora: ${(e as Error).message}`);
  }
}

/**
 * Identifies a run's computation: model, options (all but the epoch count, so a finished run can be extended)
 * and data (item ids, cache keys, masks). A checkpoint is only resumed by a run with the same hash.
 */
function configHash(
  cfg: ResolvedConfig,
  sam: Sam,
  items: readonly PreparedItem[],
  initial: StateDict | undefined,
  regularizer: AlRegularizer | undefined,
): string {
  const h = createHash('sha256');
  const { epochs: _epochs, ...rest } = cfg;
  void _epochs;
  h.update(JSON.stringify({ ...rest, model: sam.config.name, init: initial ? 'given' : 'seeded' }));
  if (regularizer) h.update(`\0regularizer\0${regularizer.id}`);
  for (const { item } of items) {
    h.update(`\0${item.id}\0${item.handle.key}\0${item.handle.fingerprint}`);
    for (const m of item.masks) h.update(m.mask);
  }
  if (initial)
    for (const [k, v] of initial)
      h.update(k).update(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  return h.digest('hex');
}

/** R region indices for one image: a seeded shuffle of its regions, repeated as needed. */
function pickRegions(regions: readonly number[], r: number, rng: Rng): number[] {
  const order = shuffledIndices(regions.length, rng);
  return Array.from({ length: r }, (_, i) => regions[order[i % regions.length]]);
}

/** Applies the embedding-level intensity jitter in place. */
function jitterEmbedding(z: Float32Array, rng: Rng, j: IntensityJitter): void {
  if (!(rng() < j.p)) return;
  const a = j.scale * (2 * rng() - 1);
  const b = j.shift * (2 * rng() - 1);
  let mean = 0;
  for (let i = 0; i < z.length; i++) mean += z[i];
  mean /= z.length;
  let v = 0;
  for (let i = 0; i < z.length; i++) v += (z[i] - mean) ** 2;
  const shift = b * Math.sqrt(v / z.length);
  for (let i = 0; i < z.length; i++) z[i] = (1 + a) * z[i] + shift;
}

/** Time stamps of one decoder pass (seconds, from `now`). */
interface StepMarks {
  alFwd: number;
  decFwd: number;
  lossFwd: number;
  lossBwd: number;
  decBwd: number;
}

interface StepBatch {
  embeddings: tf.Tensor4D;
  /** [prompts, images]: row i is one-hot at the image prompt i belongs to (repeatForPrompts). */
  promptImage: tf.Tensor2D;
  sparse: tf.Tensor3D;
  dense: tf.Tensor4D;
  target: tf.Tensor4D;
  prompts: number;
}

/** Pass-through with a custom gradient that reports when the forward and the backward pass reach it. */
function timingMarker<T extends tf.Tensor>(onForward: () => void, onBackward: () => void): (x: T) => T {
  const f = tf.customGrad((...args) => {
    onForward();
    return {
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => {
        onBackward();
        return dy;
      },
    };
  });
  return (x: T) => f(x) as T;
}

/**
 * What every step of one run shares: the resolved options, the model's frames, the trained variables (AL and
 * opt-in delta) with their optimizer, the clock and the phase times it accumulates.
 */
interface AlRun {
  opts: TrainAlignmentLayerOptions;
  cfg: ResolvedConfig;
  sam: Sam;
  /** Embedding grid side, input frame side, decoder output side (4g). */
  g: number;
  S: number;
  lowSize: number;
  now: () => number;
  align: AlignmentLayer;
  lora: DecoderLora | undefined;
  opt: AdamOptimizer;
  /** The AL's variables by PyTorch name (what a regularizer sees). */
  named: Map<string, tf.Variable>;
  /** TF variable name → name in the optimizer (AL names, `decoder_lora.`-prefixed delta names). */
  byTfName: Map<string, string>;
  alVars: tf.Variable[];
  loraVars: tf.Variable[];
  varList: tf.Variable[];
  reg: AlRegularizer | undefined;
  phases: AlPhaseTimes;
}

/** Where the loop stands; a checkpoint saves it, a resumed run starts from it. */
interface AlLoopState {
  epochLosses: number[];
  startEpoch: number;
  startStep: number;
  /** Running loss of the current epoch (prompt-weighted). */
  partial: { lossSum: number; prompts: number };
  /** Seconds trained by earlier runs of this checkpoint. */
  trainedBefore: number;
  stepsPerEpoch: number;
  totalSteps: number;
  stepsRun: number;
  secondsPerEpoch: number[];
  runStart: number;
  /** Checkpoint every this many epochs / steps (0: never inside an epoch). */
  ckEvery: number;
  ckEverySteps: number;
  configHash: string;
}

/** The items with at least one region (and their region indices); the rest are reported as skipped. */
function prepareItems(
  items: readonly EmbeddedItem[],
  cfg: ResolvedConfig,
  g: number,
): { prepared: PreparedItem[]; skippedImages: string[] } {
  const prepared: PreparedItem[] = [];
  const skippedImages: string[] = [];
  for (const item of items) {
    const [h, w] = item.handle.originalSize;
    for (const m of item.masks)
      if (m.mask.length !== h * w)
        throw new TrainerInputError(
          `item ${item.id}: mask ${m.classId} has ${m.mask.length} values, image is ${w}×${h}`,
        );
    const regions = Array.from({ length: countRegions(item.masks, w, h, cfg.regions) }, (_, i) => i);
    const want = [1, cfg.channels, g, g];
    if (item.handle.shape.join() !== want.join())
      throw new TrainerInputError(
        `item ${item.id}: cached embedding [${item.handle.shape}] where [${want}] is expected`,
      );
    if (regions.length) prepared.push({ item, regions });
    else skippedImages.push(item.id);
  }
  if (prepared.length === 0) throw new TrainerInputError('no training image has a non-empty mask');
  return { prepared, skippedImages };
}

/** The seeded decoder delta of the configuration (its own RNG stream), when one is trained. */
function createTrainedLora(cfg: ResolvedConfig): DecoderLora | undefined {
  if (!cfg.decoderLora) return undefined;
  const { rank, alpha, layers } = cfg.decoderLora;
  return createDecoderLora({
    channels: cfg.channels,
    rank,
    alpha,
    layers: layers === 'all' ? undefined : layers,
    seed: deriveSeed(cfg.seed, 'decoder-lora-init'),
  });
}

/** Names the trained variables and builds their Adam optimizer. */
function createRun(
  opts: TrainAlignmentLayerOptions,
  cfg: ResolvedConfig,
  align: AlignmentLayer,
  lora: DecoderLora | undefined,
): AlRun {
  const mc = opts.sam.config;
  const g = gridSize(mc);
  const named = align.namedVariables();
  const loraNamed = new Map([...(lora?.namedVariables() ?? [])].map(([k, v]) => [LORA_PREFIX + k, v]));
  const trained = new Map([...named, ...loraNamed]);
  const opt = createAdam(trained, { lr: cfg.lr });
  return {
    opts,
    cfg,
    sam: opts.sam,
    g,
    S: mc.imgSize,
    lowSize: 4 * g,
    now: opts.now ?? ((): number => performance.now() / 1000),
    align,
    lora,
    opt,
    named,
    byTfName: new Map([...trained].map(([k, v]) => [v.name, k])),
    alVars: [...named.values()],
    loraVars: [...loraNamed.values()],
    varList: [...trained.values()],
    reg: opts.regularizer,
    phases: {
      data: 0,
      alForward: 0,
      decoderForward: 0,
      lossForward: 0,
      lossBackward: 0,
      decoderBackward: 0,
      alBackward: 0,
      optimizer: 0,
    },
  };
}

/** Loads a checkpoint of the same configuration into the run's variables and optimizer; returns where it stood. */
function resumeFromCheckpoint(
  run: AlRun,
  hash: string,
): Pick<AlLoopState, 'epochLosses' | 'startEpoch' | 'startStep' | 'partial' | 'trainedBefore'> {
  const { opts, cfg } = run;
  const state = {
    epochLosses: [] as number[],
    startEpoch: 0,
    startStep: 0,
    partial: { lossSum: 0, prompts: 0 },
    trainedBefore: 0,
  };
  if (!opts.checkpoint) return state;
  const ck = readAlCheckpoint(opts.checkpoint.path);
  if (!ck) return state;
  if (ck.meta.configHash !== hash)
    throw new AlCheckpointError(
      `checkpoint ${opts.checkpoint.path} belongs to a run with other data or options; delete it to start over`,
    );
  if (ck.meta.completedEpochs > cfg.epochs)
    throw new AlCheckpointError(
      `checkpoint has ${ck.meta.completedEpochs} epochs done, more than ${cfg.epochs}`,
    );
  run.align.loadStateDict(ck.align);
  if (run.lora) loadLoraState(run.lora, ck.decoderLora);
  run.opt.loadStateDict(ck.optimizer);
  state.epochLosses.push(...ck.meta.epochLosses);
  state.startEpoch = ck.meta.completedEpochs;
  state.startStep = ck.meta.stepInEpoch;
  state.partial = { ...ck.meta.partial };
  state.trainedBefore = ck.meta.trainedS;
  return state;
}

function saveCheckpoint(run: AlRun, loop: AlLoopState, completedEpochs: number, stepInEpoch: number): void {
  const { opts, now } = run;
  if (!opts.checkpoint) return;
  writeAlCheckpoint(opts.checkpoint.path, {
    meta: {
      format: 'casam-al-checkpoint',
      version: 1,
      configHash: loop.configHash,
      channels: run.cfg.channels,
      completedEpochs,
      stepInEpoch,
      epochLosses: [...loop.epochLosses],
      partial: { ...loop.partial },
      trainedS: loop.trainedBefore + (now() - loop.runStart),
    },
    align: run.align.stateDict(),
    optimizer: run.opt.stateDict(),
    ...(run.lora ? { decoderLora: run.lora.stateDict() } : {}),
  });
}

/**
 * The prompt encoder's sparse and dense embeddings of a batch's model-frame prompts (boxes, or points with their
 * labels). Call it inside a tidy; the caller owns the results.
 */
export function encodeModelFramePrompts(sam: Sam, frame: ModelFramePrompts): PromptEmbeddings {
  const b = frame.count;
  const input =
    frame.boxes !== undefined
      ? { boxes: tf.tensor2d(frame.boxes, [b, 4]) }
      : {
          points: {
            coords: tf.tensor3d(frame.coords!, [b, frame.pointsPerPrompt, 2]),
            labels: tf.tensor2d(frame.labels!, [b, frame.pointsPerPrompt]),
          },
        };
  return sam.promptEncoder.encode(input);
}

/** Host-side batch assembly and the constant tensors of one step. */
function makeBatch(run: AlRun, batch: readonly PreparedItem[], rng: Rng): StepBatch {
  const { cfg, sam, g, S, lowSize } = run;
  const e = batch.length;
  const r = cfg.regionsPerImage;
  const per = cfg.channels * g * g;
  const embData = new Float32Array(e * per);
  const regions: MaskRef[] = [];
  const sizes: [number, number][] = [];
  batch.forEach((p, i) => {
    const cached: CachedEmbedding = loadEmbedding(p.item.handle);
    const z = Float32Array.from(cached.embeddings.data as Float32Array);
    const [h, w] = cached.originalSize;
    const own = splitRegions(p.item.masks, w, h, cfg.regions);
    for (const k of pickRegions(p.regions, r, rng)) {
      regions.push({ mask: own[k].mask, width: w, height: h });
      sizes.push([h, w]);
    }
    jitterEmbedding(z, rng, cfg.jitter);
    embData.set(z, i * per);
  });
  const prompts = samplePromptBatch(regions, rng, cfg.prompts);
  const frame = toModelFrame(prompts, sizes, S);
  const res = cfg.lossResolution === 'input' ? S : lowSize;
  const targetData = new Float32Array(regions.length * res * res);
  regions.forEach((m, i) => {
    const full = maskToInputFrame(m, S);
    const t = cfg.lossResolution === 'input' ? full : downsampleMask(full, S, S / lowSize);
    for (let j = 0; j < t.length; j++) targetData[i * res * res + j] = t[j];
  });
  const b = regions.length;
  return tf.tidy(() => {
    const { sparse, dense } = encodeModelFramePrompts(sam, frame);
    return {
      embeddings: tf.tensor4d(embData, [e, cfg.channels, g, g]),
      promptImage: tf.tensor2d(
        Float32Array.from({ length: b * e }, (_, k) => (Math.floor(k / e / r) === k % e ? 1 : 0)),
        [b, e],
      ),
      sparse,
      dense,
      target: tf.tensor4d(targetData, [b, 1, res, res]),
      prompts: b,
    };
  });
}

/** The loss plus the regularizer's penalty (its time lands in the loss head's backward stamp). */
function withPenalty(run: AlRun, loss: tf.Scalar): tf.Scalar {
  return run.reg ? (tf.add(loss, run.reg.penalty(run.named)) as tf.Scalar) : loss;
}

/**
 * Each image's AL output repeated for its prompts: y [E,C,g,g] → [P,C,g,g] as `promptImage` [P,E] · y, rows
 * one-hot, so the copy is exact. The decoder's own repeat (a rank-5 tile) has no gradient in TF.js; a gather
 * has, but the wasm backend runs GatherV2 and its gradient (UnsortedSegmentSum) as scalar loops: 170 + 36 ms of a
 * 3.2 s casam-small step (6 images × 5 prompts, one wasm thread), where the product is one XNNPACK matmul each
 * way (gather 170 vs product 50 ms forward and backward, bench-side check on the same shapes).
 */
export function repeatForPrompts(y: tf.Tensor4D, promptImage: tf.Tensor2D): tf.Tensor4D {
  const [e, c, h, w] = y.shape;
  const [p, pe] = promptImage.shape;
  if (pe !== e) throw new Error(`promptImage [${promptImage.shape}] does not fit ${e} images`);
  return tf.reshape(tf.matMul(promptImage, tf.reshape(y, [e, c * h * w])), [p, c, h, w]);
}

/**
 * Loss of the decoder over prompts [p0, p1) given AL outputs `y` (one per image), with timing markers around
 * the decoder and the loss head. Returns the total; keeps the three terms (the caller disposes them).
 */
function decoderLoss(
  run: AlRun,
  sb: StepBatch,
  y: tf.Tensor4D,
  p0: number,
  p1: number,
  marks: StepMarks,
  kept: tf.Scalar[],
): tf.Scalar {
  const { cfg, sam, now, S } = run;
  const n = p1 - p0;
  const whole = p0 === 0 && p1 === sb.prompts;
  const sl = <T extends tf.Tensor>(t: T): T =>
    whole ? t : (tf.slice(t, [p0, ...t.shape.slice(1).map(() => 0)], [n, ...t.shape.slice(1)]) as T);
  const headMarker = timingMarker<tf.Tensor4D>(
    () => (marks.decFwd = now()),
    () => (marks.lossBwd = now()),
  );
  const yb = repeatForPrompts(y, sl(sb.promptImage));
  const out = sam.maskDecoder.forward(
    yb,
    sam.densePe,
    sl(sb.sparse),
    sl(sb.dense),
    false,
    undefined,
    run.lora,
  );
  const masks = headMarker(out.masks);
  const logits = cfg.lossResolution === 'input' ? postprocessMasksTf(masks, [S, S], [S, S], S) : masks;
  const l = segmentationLoss(logits, sl(sb.target), out.iou, cfg.lossWeights);
  kept.push(...[l.focal, l.dice, l.iouMse].map((t) => tf.keep(t)));
  marks.lossFwd = now();
  return l.total;
}

function namedGrads(run: AlRun, grads: tf.NamedTensorMap): Map<string, tf.Tensor> {
  return new Map(Object.entries(grads).map(([k, gr]) => [run.byTfName.get(k)!, gr]));
}

function addPhases(run: AlRun, m: StepMarks, alFwdStart: number, decFwdStart: number): void {
  const { phases } = run;
  phases.alForward += (m.alFwd - alFwdStart) * 1000;
  phases.decoderForward += (m.decFwd - decFwdStart) * 1000;
  phases.lossForward += (m.lossFwd - m.decFwd) * 1000;
  phases.lossBackward += (m.lossBwd - m.lossFwd) * 1000;
  phases.decoderBackward += (m.decBwd - m.lossBwd) * 1000;
}

/** One chunk's loss and its gradient w.r.t. y; the delta's gradients (weighted by `w`) summed into `acc`. */
function chunkGradsWithLora(
  run: AlRun,
  yVar: tf.Variable,
  f: () => tf.Scalar,
  w: number,
  acc: Map<string, tf.Tensor>,
): { value: tf.Scalar; grad: tf.Tensor } {
  ensureGradients();
  const { value, grads: g } = tf.variableGrads(f, [yVar, ...run.loraVars]);
  for (const v of run.loraVars) {
    // No gradient: a delta on a mask token whose mask the single-mask forward does not make (as PyTorch, the
    // optimizer then skips it; its zero gradient would leave it unchanged all the same).
    if (!g[v.name]) continue;
    const k = run.byTfName.get(v.name)!;
    const prev = acc.get(k);
    const next = tf.tidy(() => (prev ? tf.add(prev, tf.mul(g[v.name], w)) : tf.mul(g[v.name], w)));
    prev?.dispose();
    g[v.name].dispose();
    acc.set(k, next);
  }
  return { value, grad: g[yVar.name] };
}

type StepGradients = { loss: number; terms: [number, number, number]; grads: Map<string, tf.Tensor> };

/** All prompts of the step in one pass: one tape over the AL, the decoder and the loss. */
function onePassGradients(run: AlRun, sb: StepBatch, t1: number, kept: tf.Scalar[]): StepGradients {
  const { now, phases } = run;
  const marks: StepMarks = { alFwd: 0, decFwd: 0, lossFwd: 0, lossBwd: 0, decBwd: 0 };
  const alMarker = timingMarker<tf.Tensor4D>(
    () => (marks.alFwd = now()),
    () => (marks.decBwd = now()),
  );
  ensureGradients();
  const { value, grads } = tf.variableGrads(
    () =>
      withPenalty(
        run,
        decoderLoss(run, sb, alMarker(run.align.forward(sb.embeddings)), 0, sb.prompts, marks, kept),
      ),
    run.varList,
  );
  const t5 = now();
  addPhases(run, marks, t1, marks.alFwd);
  phases.alBackward += (t5 - marks.decBwd) * 1000;
  const loss = value.dataSync()[0];
  value.dispose();
  const [focal, dice, iouMse] = kept.map((t) => t.dataSync()[0]);
  return { loss, terms: [focal, dice, iouMse], grads: namedGrads(run, grads) };
}

/**
 * The decoder over chunks of `maxPromptsPerPass` prompts: its gradients w.r.t. the AL output are summed
 * (weighted by chunk size: every loss term is a mean over masks, so the sum is the full loss), and one more AL
 * pass back-propagates them (the AL forward runs twice; the decoder's activations of only one chunk are alive).
 */
function chunkedGradients(run: AlRun, sb: StepBatch, t1: number, kept: tf.Scalar[]): StepGradients {
  const { now, phases, align, lora, reg } = run;
  const chunk = run.cfg.maxPromptsPerPass;
  const y = align.forward(sb.embeddings);
  // With a delta, y is wrapped in a variable so one tape gives the gradients of y and of the delta.
  const yv = lora ? tf.variable(y, true) : undefined;
  const loraGrads = new Map<string, tf.Tensor>();
  let dy: tf.Tensor4D = tf.zerosLike(y);
  let loss = 0;
  const terms: [number, number, number] = [0, 0, 0];
  const tAl = now();
  phases.alForward += (tAl - t1) * 1000;
  try {
    for (let p0 = 0; p0 < sb.prompts; p0 += chunk) {
      const p1 = Math.min(sb.prompts, p0 + chunk);
      const w = (p1 - p0) / sb.prompts;
      const marks: StepMarks = { alFwd: now(), decFwd: 0, lossFwd: 0, lossBwd: 0, decBwd: 0 };
      ensureGradients();
      const { value, grad } = yv
        ? chunkGradsWithLora(
            run,
            yv,
            () => decoderLoss(run, sb, yv as tf.Tensor4D, p0, p1, marks, kept),
            w,
            loraGrads,
          )
        : tf.valueAndGrad((yy: tf.Tensor) => decoderLoss(run, sb, yy as tf.Tensor4D, p0, p1, marks, kept))(y);
      marks.decBwd = now();
      addPhases(run, marks, marks.alFwd, marks.alFwd);
      loss += value.dataSync()[0] * w;
      kept.splice(0).forEach((t, i) => {
        terms[i] += t.dataSync()[0] * w;
        t.dispose();
      });
      const next = tf.tidy(() => tf.add(dy, tf.mul(grad, w)) as tf.Tensor4D);
      tf.dispose([dy, value, grad]);
      dy = next;
    }
    const tBack = now();
    let penalty = 0;
    ensureGradients();
    const { value, grads } = tf.variableGrads(() => {
      const surrogate = tf.sum(tf.mul(align.forward(sb.embeddings), dy)) as tf.Scalar;
      if (!reg) return surrogate;
      const p = reg.penalty(run.named);
      penalty = p.dataSync()[0];
      return tf.add(surrogate, p) as tf.Scalar;
    }, run.alVars);
    value.dispose();
    loss += penalty;
    phases.alBackward += (now() - tBack) * 1000;
    const all = namedGrads(run, grads);
    for (const [k, g] of loraGrads) all.set(k, g);
    loraGrads.clear();
    return { loss, terms, grads: all };
  } finally {
    tf.dispose([y, dy, ...loraGrads.values()]);
    yv?.dispose();
  }
}

/** Gradients of the step's loss w.r.t. the trained weights: one pass when the prompts fit, chunks otherwise. */
function computeGradients(run: AlRun, sb: StepBatch, t1: number): StepGradients {
  const kept: tf.Scalar[] = [];
  try {
    return sb.prompts <= run.cfg.maxPromptsPerPass
      ? onePassGradients(run, sb, t1, kept)
      : chunkedGradients(run, sb, t1, kept);
  } finally {
    tf.dispose(kept);
  }
}

/** One optimizer step: batch, gradients, Adam update; reports it and checkpoints when due. */
async function trainStep(
  run: AlRun,
  loop: AlLoopState,
  prepared: readonly PreparedItem[],
  order: Int32Array,
  epoch: number,
  step: number,
): Promise<void> {
  const { cfg, opts, now, phases } = run;
  const { stepsPerEpoch } = loop;
  const n = prepared.length;
  if (opts.signal?.aborted)
    throw new TrainingAbortedError(
      'Alignment Layer training',
      `stopped at epoch ${epoch + 1}/${cfg.epochs}, step ${step + 1}/${stepsPerEpoch}`,
    );
  const before = tf.memory().numTensors;
  const t0 = now();
  const rng = createRng(deriveSeed(cfg.seed, 'al-step', epoch, step));
  const idx = order.slice(step * cfg.batchImages, Math.min(n, (step + 1) * cfg.batchImages));
  const sb = makeBatch(
    run,
    Array.from(idx, (i) => prepared[i]),
    rng,
  );
  const t1 = now();
  phases.data += (t1 - t0) * 1000;
  let lossValue: number;
  let termValues: [number, number, number];
  try {
    const g = computeGradients(run, sb, t1);
    lossValue = g.loss;
    termValues = g.terms;
    const t5 = now();
    try {
      if (!Number.isFinite(lossValue))
        throw new AlTrainingError(
          `loss is ${lossValue} at epoch ${epoch + 1}, step ${step + 1}; not updating the weights`,
        );
      run.opt.applyGradients(g.grads);
    } finally {
      tf.dispose([...g.grads.values()]);
    }
    phases.optimizer += (now() - t5) * 1000;
  } finally {
    tf.dispose([sb.embeddings, sb.promptImage, sb.sparse, sb.dense, sb.target]);
  }
  const [focal, dice, iouMse] = termValues;
  if (opts.checkLeaks ?? true) {
    const after = tf.memory().numTensors;
    if (after !== before)
      throw new TensorLeakError(
        `training step ${step + 1} of epoch ${epoch + 1} left ${after - before} tensors behind`,
      );
  }
  loop.partial.lossSum += lossValue * sb.prompts;
  loop.partial.prompts += sb.prompts;
  loop.stepsRun++;
  const elapsedS = now() - loop.runStart;
  opts.onProgress?.({
    kind: 'step',
    epoch: epoch + 1,
    epochs: cfg.epochs,
    step: step + 1,
    stepsPerEpoch,
    loss: lossValue,
    terms: { focal, dice, iouMse },
    elapsedS,
    etaS: (elapsedS / loop.stepsRun) * (loop.totalSteps - loop.stepsRun),
  });
  if (loop.ckEverySteps && (step + 1) % loop.ckEverySteps === 0 && step + 1 < stepsPerEpoch)
    saveCheckpoint(run, loop, epoch, step + 1);
  await new Promise<void>((res) => setImmediate(res)); // let progress output and aborts through
}

/** One epoch (the rest of it, when resumed mid-epoch): seeded image order, its steps, its loss and checkpoint. */
async function trainEpoch(
  run: AlRun,
  loop: AlLoopState,
  prepared: readonly PreparedItem[],
  epoch: number,
): Promise<void> {
  const { cfg, opts, now } = run;
  const { startEpoch, startStep, stepsPerEpoch } = loop;
  const epochStart = now();
  const fullEpochHere = epoch > startEpoch || startStep === 0;
  const order = shuffledIndices(prepared.length, createRng(deriveSeed(cfg.seed, 'al-order', epoch)));
  const first = epoch === startEpoch ? startStep : 0;
  if (epoch !== startEpoch) loop.partial = { lossSum: 0, prompts: 0 };
  for (let step = first; step < stepsPerEpoch; step++)
    await trainStep(run, loop, prepared, order, epoch, step);
  const loss = loop.partial.lossSum / loop.partial.prompts;
  loop.epochLosses.push(loss);
  loop.partial = { lossSum: 0, prompts: 0 };
  const epochS = now() - epochStart;
  if (fullEpochHere) loop.secondsPerEpoch.push(epochS);
  if (opts.checkpoint && ((epoch + 1) % loop.ckEvery === 0 || epoch + 1 === cfg.epochs))
    saveCheckpoint(run, loop, epoch + 1, 0);
  const elapsedS = now() - loop.runStart;
  opts.onProgress?.({
    kind: 'epoch',
    epoch: epoch + 1,
    epochs: cfg.epochs,
    step: stepsPerEpoch,
    stepsPerEpoch,
    loss,
    elapsedS,
    etaS: loop.stepsRun ? (elapsedS / loop.stepsRun) * (loop.totalSteps - loop.stepsRun) : 0,
    epochS: fullEpochHere ? epochS : undefined,
  });
}

/** This run's step count, epoch times, phase times and their shares of the step time. */
function summarizeTimings(phases: AlPhaseTimes, stepsRun: number, secondsPerEpoch: number[]): AlTimings {
  const total = Object.values(phases).reduce((a, b) => a + b, 0) || 1;
  return {
    steps: stepsRun,
    secondsPerEpoch,
    phasesMs: phases,
    share: {
      al: (phases.alForward + phases.alBackward) / total,
      decoder: (phases.decoderForward + phases.decoderBackward) / total,
      loss: (phases.lossForward + phases.lossBackward) / total,
      data: phases.data / total,
      optimizer: phases.optimizer / total,
    },
  };
}

/**
 * Trains an Alignment Layer. The result's layer is the caller's to dispose. With `checkpoint`, progress is
 * saved atomically and an existing checkpoint of the same configuration is resumed, giving the same weights as
 * an uninterrupted run.
 */
export async function trainAlignmentLayer(opts: TrainAlignmentLayerOptions): Promise<AlTrainingResult> {
  const cfg = resolveConfig(opts);
  const g = gridSize(opts.sam.config);
  const ckEvery = opts.checkpoint ? positiveInt('checkpoint.every', opts.checkpoint.every ?? 1) : 0;
  const ckEverySteps =
    opts.checkpoint?.everySteps === undefined
      ? 0
      : positiveInt('checkpoint.everySteps', opts.checkpoint.everySteps);
  const { prepared, skippedImages } = prepareItems(opts.items, cfg, g);
  const stepsPerEpoch = Math.ceil(prepared.length / cfg.batchImages);
  const hash = configHash(cfg, opts.sam, prepared, opts.initialStateDict, opts.regularizer);

  const align = createAlignmentLayer({
    channels: cfg.channels,
    seed: deriveSeed(cfg.seed, 'al-init'),
    stateDict: opts.initialStateDict,
  });
  let lora: DecoderLora | undefined;
  let opt: AdamOptimizer | undefined;
  try {
    lora = createTrainedLora(cfg);
    const run = createRun(opts, cfg, align, lora);
    opt = run.opt;
    const resumed = resumeFromCheckpoint(run, hash);
    const resumedFrom = { epoch: resumed.startEpoch, step: resumed.startStep };
    const loop: AlLoopState = {
      ...resumed,
      stepsPerEpoch,
      totalSteps: (cfg.epochs - resumed.startEpoch) * stepsPerEpoch - resumed.startStep,
      stepsRun: 0,
      secondsPerEpoch: [],
      runStart: run.now(),
      ckEvery,
      ckEverySteps,
      configHash: hash,
    };
    for (let epoch = loop.startEpoch; epoch < cfg.epochs; epoch++)
      await trainEpoch(run, loop, prepared, epoch);
    return {
      align,
      ...(lora ? { decoderLora: lora } : {}),
      epochLosses: loop.epochLosses,
      completedEpochs: loop.epochLosses.length,
      resumedFrom,
      skippedImages,
      lr: cfg.lr,
      timings: summarizeTimings(run.phases, loop.stepsRun, loop.secondsPerEpoch),
    };
  } catch (e) {
    align.dispose();
    lora?.dispose();
    throw e;
  } finally {
    opt?.dispose();
  }
}

/** Puts a checkpoint's delta into `lora` (its variables keep their identity, so the optimizer still holds them). */
function loadLoraState(lora: DecoderLora, sd: StateDict | undefined): void {
  const vars = lora.namedVariables();
  if (!sd || sd.size !== vars.size || [...vars.keys()].some((k) => !sd.has(k)))
    throw new AlCheckpointError(
      'the checkpoint holds no decoder delta of this shape; delete it to start over',
    );
  for (const [k, v] of vars) {
    const h = sd.get(k)!;
    if (h.shape.join() !== v.shape.join())
      throw new AlCheckpointError(
        `checkpoint decoder delta ${k} has shape [${h.shape}], expected [${v.shape}]`,
      );
    tf.tidy(() => v.assign(tf.tensor(toFloat32(h), h.shape, 'float32')));
  }
}
