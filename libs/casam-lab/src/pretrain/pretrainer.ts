/**
 * Pretraining of the embedded SAM (`casam-tiny`) from scratch on the generic synthetic corpus.
 *
 * Choices, and why:
 * - Adam, peak lr 1e-3, linear warm-up over the first 250 steps, cosine decay to 5% at the last step,
 *   global-norm clipping at 1. A 0.8 M-parameter model trained from scratch on endless fresh data has no
 *   overfitting to fear and a small budget of steps, so a high rate pays; the warm-up keeps the first steps,
 *   when Adam's second-moment estimates are still noise and the post-norm two-way transformer is fragile,
 *   from blowing up; clipping guards the rare spike from a degenerate (tiny or huge) target.
 * - Loss = focal + Dice (1:1) + MSE(predicted IoU, actual IoU), on the decoder's native 64×64 logits
 *   against soft 64×64 targets (area fractions, see batch.ts): upsampling 4 masks × P prompts to 256² would
 *   cost more than the decoder itself on 2 CPU cores. SAM's 20:1 focal:Dice stalls on empty masks from
 *   scratch; 1:1 learns.
 * - Multimask as in SAM, for every prompt: the single-mask token 0 (what box prompts and CA-SAM use) is
 *   always trained, plus the best (lowest-loss) of the three multimask tokens, so `--multimask` is meaningful
 *   for ambiguous single points; the IoU head learns all four actual IoUs. All four masks come out of one
 *   decoder pass anyway, so this costs almost nothing.
 * - Several targets per image (default 4): the encoder, the expensive part, runs once per image; the
 *   decoder runs once per target.
 * - Interruptible: checkpoints (weights, Adam moments, step, data cursor, elapsed time) are written
 *   atomically every `checkpointEvery` steps, at every evaluation and when stopped; a run started again with
 *   the same output folder continues exactly where it stopped (bit-identical, given the same backend and
 *   thread count).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ensureGradients,
  tf,
  SamConfig,
  getPreset,
  maskInputSize,
  StateDict,
  AdamOptimizer,
  createAdam,
} from '@casam/casam-core';
import { HostBatch, buildBatch, decodeBatch } from './batch';
import {
  Checkpoint,
  CheckpointMeta,
  PretrainCheckpointError,
  adamStateOf,
  checkpointMoments,
  loadCheckpoint,
  saveCheckpoint,
} from './checkpoint-io';
import { makeDomainEvalSet, summariseDomainEval } from './domain-eval';
import { CorpusSample, EVAL_SEED, GenericCorpus, createGenericCorpus } from './generic-corpus';
import { EvalResult, EvalSet, evaluateHeldOut, makeHeldOutSet } from './evaluate';
import { initSamStateDict } from './init-weights';
import { maskLossTerms } from './pretrain-loss';
import { TrainableSam, createTrainableSam } from './trainable-sam';
import { TRAINING_LOG_FILE } from './training-curve';

export interface PretrainOptions {
  /** Output folder: checkpoints/ and training-log.jsonl go here. */
  outDir: string;
  preset?: string;
  /** Total optimizer steps of the run (the schedule's length). */
  steps: number;
  /** Images per step. */
  batch?: number;
  targetsPerImage?: number;
  /** Peak learning rate. */
  lr?: number;
  warmupSteps?: number;
  /** Final learning rate as a fraction of the peak (cosine floor). */
  minLrFraction?: number;
  clipNorm?: number;
  seed?: number;
  /** Evaluate every this many steps (0: only at the end). */
  evalEvery?: number;
  evalImages?: number;
  checkpointEvery?: number;
  /** Progress line every this many steps. */
  logEvery?: number;
  /** Continue from outDir/checkpoints/latest.safetensors when it exists (default true). */
  resume?: boolean;
  /** Recorded in checkpoints (and so in the exported README). */
  command?: string;
  /**
   * Weights to start from instead of a fresh initialisation (a warm start, see warm-start.ts); ignored when a
   * checkpoint is resumed. `initFrom` names where they came from, for the log and the checkpoint.
   */
  initWeights?: StateDict;
  initFrom?: string;
  /**
   * The training corpus, built from the run's seed (which a resumed checkpoint fixes): default the generic
   * synthetic corpus. `name` is logged and kept in checkpoints; a resume under another name is logged as a
   * corpus change at that step (a curriculum stage), not refused.
   */
  corpus?: {
    name: string;
    create(seed: number, size: number, targetsPerImage: number): { sample(i: number): CorpusSample };
  };
  backend?: string;
  /**
   * Validation images per synthetic domain for the second evaluation (frozen box IoU against box-fill on the
   * continual benchmark's 12 domains, domain-eval.ts), run with every held-out evaluation; 0 or absent: off.
   */
  domainEvalImages?: number;
  /**
   * Train the prompt encoder and mask decoder only; the image encoder keeps the weights the run started from
   * (it runs forward only, outside the gradient tape). Recorded in checkpoints as `freezeEncoder`.
   */
  freezeEncoder?: boolean;
  /** Stop (after saving a checkpoint) when this aborts. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Clock in seconds (tests pass a fake one). */
  now?: () => number;
}

export interface ResolvedPretrainOptions {
  preset: string;
  steps: number;
  batch: number;
  targetsPerImage: number;
  lr: number;
  warmupSteps: number;
  minLrFraction: number;
  clipNorm: number;
  seed: number;
  evalEvery: number;
  evalImages: number;
  checkpointEvery: number;
  logEvery: number;
}

export interface PretrainResult {
  /** Steps completed (over all sessions). */
  step: number;
  /** True when the run reached `steps`; false when stopped early. */
  finished: boolean;
  elapsedSeconds: number;
  lastEval: EvalResult | null;
  /** Final weights (official names and layouts). */
  weights: StateDict;
}

/** Bad pretraining options (a usage error). */
export class PretrainOptionsError extends Error {
  override name = 'PretrainOptionsError';
}

const positiveInt = (name: string, v: number, min = 1): number => {
  if (!Number.isInteger(v) || v < min)
    throw new PretrainOptionsError(`${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
};

export function resolvePretrainOptions(o: PretrainOptions): ResolvedPretrainOptions {
  const lr = o.lr ?? 1e-3;
  if (!(lr > 0 && lr < 1)) throw new PretrainOptionsError(`lr must be in (0, 1), got ${lr}`);
  const minLr = o.minLrFraction ?? 0.05;
  if (!(minLr >= 0 && minLr <= 1))
    throw new PretrainOptionsError(`minLrFraction must be in [0, 1], got ${minLr}`);
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new PretrainOptionsError(`seed must be an integer in [0, 2^32), got ${seed}`);
  if (seed === EVAL_SEED) throw new PretrainOptionsError(`seed ${seed} is the held-out evaluation seed`);
  return {
    preset: o.preset ?? 'casam-tiny',
    // 0 only for a warm start: the run evaluates and exports the warm-started weights as they are.
    steps: positiveInt('steps', o.steps, o.initWeights ? 0 : 1),
    batch: positiveInt('batch', o.batch ?? 8),
    targetsPerImage: positiveInt('targetsPerImage', o.targetsPerImage ?? 4),
    lr,
    warmupSteps: positiveInt('warmupSteps', o.warmupSteps ?? 250, 0),
    minLrFraction: minLr,
    clipNorm: o.clipNorm ?? 1,
    seed,
    evalEvery: positiveInt('evalEvery', o.evalEvery ?? 250, 0),
    evalImages: positiveInt('evalImages', o.evalImages ?? 64),
    checkpointEvery: positiveInt('checkpointEvery', o.checkpointEvery ?? 25),
    logEvery: positiveInt('logEvery', o.logEvery ?? 10),
  };
}

/** Learning rate for optimizer step `step` (0-based): linear warm-up, then cosine to minLrFraction·lr. */
export function learningRate(o: ResolvedPretrainOptions, step: number): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const span = Math.max(1, o.steps - o.warmupSteps);
  const p = Math.min(1, (step - o.warmupSteps) / span);
  return o.lr * (o.minLrFraction + (1 - o.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * p)));
}

export interface StepStats {
  loss: number;
  /** Token-0 focal and Dice terms, mean IoU-MSE over the 4 tokens, token-0 hard IoU on the training targets. */
  focal: number;
  dice: number;
  iouMse: number;
  trainIou: number;
  gradNorm: number;
}

/**
 * The training loss for a decoded batch (all 4 tokens): token 0 plus the best multimask token, each
 * focal + Dice, plus the IoU-head MSE over all 4 tokens. Also returns [loss, focal0, dice0, iouMse, iou0].
 */
export function pretrainLoss(
  masks: tf.Tensor4D,
  iouPred: tf.Tensor2D,
  targets: tf.Tensor4D,
): { loss: tf.Scalar; parts: tf.Tensor1D } {
  const p = masks.shape[0];
  const terms = maskLossTerms(masks, targets);
  const perMask = tf.add(terms.focal, terms.dice); // [P,4]
  const single = tf.reshape(tf.slice(perMask, [0, 0], [p, 1]), [p]);
  const multi = tf.min(tf.slice(perMask, [0, 1], [p, 3]), 1);
  const iouMse = tf.mean(tf.square(tf.sub(iouPred, terms.iou)));
  const loss = tf.add(tf.mean(tf.add(single, multi)), iouMse) as tf.Scalar;
  const col0 = (t: tf.Tensor2D): tf.Tensor => tf.mean(tf.slice(t, [0, 0], [p, 1]));
  const parts = tf.stack([loss, col0(terms.focal), col0(terms.dice), iouMse, col0(terms.iou)]) as tf.Tensor1D;
  return { loss, parts };
}

/** One optimizer step on a host batch. Leaves no tensors behind. */
export function trainStep(
  model: TrainableSam,
  adam: AdamOptimizer,
  batch: HostBatch,
  lr: number,
  freezeEncoder = false,
): StepStats {
  const cfg = model.config;
  const s = cfg.imgSize;
  const m = maskInputSize(cfg);
  const names = [...model.variables.keys()];
  const vars = [...model.variables.values()];
  const official = new Map(vars.map((v, i) => [v.name, names[i]]));
  const kept: { parts?: tf.Tensor1D } = {};
  // A frozen encoder runs outside the gradient tape (no backward pass through it, its weights never change).
  const trained = freezeEncoder ? vars.filter((_, i) => !names[i].startsWith('image_encoder.')) : vars;
  const frozenEmb = freezeEncoder
    ? tf.tidy(() => model.sam.imageEncoder.forward(tf.tensor4d(batch.images, [batch.numImages, 3, s, s])))
    : null;
  ensureGradients();
  const { value, grads } = tf.variableGrads(() => {
    const emb =
      frozenEmb ?? model.sam.imageEncoder.forward(tf.tensor4d(batch.images, [batch.numImages, 3, s, s]));
    const out = decodeBatch(model.sam, emb, batch);
    const targets = tf.tensor4d(batch.targets, [batch.imageIndex.length, 1, m, m]);
    const r = pretrainLoss(out.masks, out.iou, targets);
    kept.parts = tf.keep(r.parts);
    return r.loss;
  }, trained);
  frozenEmb?.dispose();
  const byName = new Map<string, tf.Tensor>();
  for (const [k, g] of Object.entries(grads)) byName.set(official.get(k) ?? k, g);
  const gradNorm = adam.applyGradientsAt(byName, lr);
  const parts = kept.parts!;
  const p = parts.dataSync();
  const gn = gradNorm.dataSync()[0];
  tf.dispose([value, gradNorm, parts, ...Object.values(grads)]);
  return { loss: p[0], focal: p[1], dice: p[2], iouMse: p[3], trainIou: p[4], gradNorm: gn };
}

/** The samples of one step: the next `batch` indices of the corpus stream. */
export function stepSamples(corpus: Pick<GenericCorpus, 'sample'>, first: number, batch: number) {
  return Array.from({ length: batch }, (_, i) => corpus.sample(first + i));
}

function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(s).padStart(2, '0')}s`
      : `${s}s`;
}

export const CHECKPOINT_FILE = 'checkpoints/latest.safetensors';
export const LOG_FILE = TRAINING_LOG_FILE;

/** Drops log lines written after the checkpoint a resumed run starts from (they will be redone). */
function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const e = JSON.parse(line) as { step?: number; type?: string };
        return typeof e.step !== 'number' || e.step <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(path, kept.map((l) => l + '\n').join(''));
}

/**
 * Runs (or continues) pretraining until `steps` or until `signal` aborts. Returns the final weights; the
 * caller exports them (see export-model.ts).
 */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const o = resolvePretrainOptions(opts);
  const log = opts.log ?? ((line: string) => console.log(line));
  const now = opts.now ?? (() => performance.now() / 1000);
  const cfg: SamConfig = getPreset(o.preset);
  const ckptPath = join(opts.outDir, CHECKPOINT_FILE);
  const logPath = join(opts.outDir, LOG_FILE);
  mkdirSync(join(opts.outDir, 'checkpoints'), { recursive: true });
  const writeLog = (entry: Record<string, unknown>): void =>
    appendFileSync(logPath, JSON.stringify(entry) + '\n');

  let ckpt: Checkpoint | null = null;
  if ((opts.resume ?? true) && existsSync(ckptPath)) {
    ckpt = loadCheckpoint(ckptPath);
    if (ckpt.meta.preset !== o.preset)
      throw new PretrainCheckpointError(`${ckptPath} is a ${ckpt.meta.preset} run, not ${o.preset}`);
    if (opts.seed !== undefined && opts.seed !== ckpt.meta.seed)
      throw new PretrainCheckpointError(
        `${ckptPath} was trained with --seed ${ckpt.meta.seed}; resume with that seed or use another --out`,
      );
    o.seed = ckpt.meta.seed;
  } else if (existsSync(logPath)) {
    // A fresh start in a used folder: the old log (and, at the first save, checkpoint) are replaced.
    log(`starting over in ${opts.outDir}: the previous training log and checkpoint are replaced`);
    writeFileSync(logPath, '');
  }
  const model = createTrainableSam(
    cfg,
    ckpt ? ckpt.weights : (opts.initWeights ?? initSamStateDict(cfg, o.seed)),
  );
  const adam = createAdam(model.variables, { lr: o.lr, clipNorm: o.clipNorm });
  let step = 0;
  let nextSample = 0;
  // Wall time of all sessions (steps, evaluations, checkpoints); this session's share is added as it goes.
  let elapsedBefore = 0;
  const sessionStart = now();
  const elapsedNow = (): number => elapsedBefore + (now() - sessionStart);
  // Where the first weights came from, kept through every resume.
  const initFrom: string | undefined = ckpt
    ? (ckpt.meta.options['initFrom'] as string | undefined)
    : opts.initWeights
      ? (opts.initFrom ?? 'given weights')
      : undefined;
  if (ckpt) {
    adam.loadStateDict(adamStateOf(ckpt));
    step = ckpt.meta.step;
    nextSample = ckpt.meta.nextSample;
    elapsedBefore = ckpt.meta.elapsedSeconds;
    truncateLog(logPath, step);
    log(`resuming ${ckptPath} at step ${step} (${fmtDuration(elapsedBefore)} trained so far)`);
  }
  writeLog({
    type: ckpt ? 'resume' : 'start',
    step,
    options: o,
    ...(!ckpt && opts.initWeights ? { initFrom: opts.initFrom ?? 'given weights' } : {}),
    time: new Date().toISOString(),
  });
  const corpusName = opts.corpus?.name ?? 'generic';
  const corpus = opts.corpus
    ? opts.corpus.create(o.seed, cfg.imgSize, o.targetsPerImage)
    : createGenericCorpus({ seed: o.seed, size: cfg.imgSize, targetsPerImage: o.targetsPerImage });
  const previousCorpus = ckpt
    ? ((ckpt.meta.options['corpus'] as string | undefined) ?? 'generic')
    : corpusName;
  if (previousCorpus !== corpusName) {
    log(`corpus changes at step ${step}: ${previousCorpus} → ${corpusName}`);
    writeLog({ type: 'corpus', step, from: previousCorpus, to: corpusName, time: new Date().toISOString() });
  }
  const wasFrozen = ckpt ? ckpt.meta.options['freezeEncoder'] === true : opts.freezeEncoder === true;
  if (wasFrozen !== (opts.freezeEncoder === true)) {
    log(`image encoder ${opts.freezeEncoder ? 'frozen' : 'trained again'} from step ${step}`);
    writeLog({
      type: 'stage',
      step,
      freezeEncoder: opts.freezeEncoder === true,
      time: new Date().toISOString(),
    });
  }
  let evalSet: EvalSet | null = null;
  let domainSet: EvalSet | null = null;
  const runEval = (): EvalResult => {
    evalSet ??= makeHeldOutSet(o.evalImages, 2, cfg.imgSize);
    const r = evaluateHeldOut(model.sam, evalSet);
    log(
      `eval @ step ${step}: box IoU ${r.boxIou.toFixed(4)} vs box-fill ${r.boxFillIou.toFixed(4)} ` +
        `(${r.boxIou >= r.boxFillIou ? '+' : ''}${(r.boxIou - r.boxFillIou).toFixed(4)}), ` +
        `1-point IoU ${r.pointIou.toFixed(4)}, ${r.targets} held-out targets`,
    );
    writeLog({ type: 'eval', step, elapsed: Math.round(elapsedNow()), ...r });
    if ((opts.domainEvalImages ?? 0) > 0) {
      domainSet ??= makeDomainEvalSet(opts.domainEvalImages, cfg.imgSize);
      const d = evaluateHeldOut(model.sam, domainSet);
      const sum = summariseDomainEval(d);
      log(
        `domain eval @ step ${step}: frozen box IoU ${sum.meanBoxIou.toFixed(4)} vs box-fill ` +
          `${sum.meanBoxFillIou.toFixed(4)}, ${sum.domainsAtOrAboveBoxFill}/${sum.domains} domains at or above box-fill`,
      );
      writeLog({
        type: 'eval-domains',
        step,
        elapsed: Math.round(elapsedNow()),
        ...sum,
        targets: d.targets,
        byDomain: d.byShape,
      });
    }
    lastEvalStep = step;
    return r;
  };
  const save = (): void => {
    const meta: CheckpointMeta = {
      format: 'casam-pretrain-checkpoint/1',
      preset: o.preset,
      step,
      seed: o.seed,
      nextSample,
      elapsedSeconds: elapsedNow(),
      command: opts.command,
      backend: opts.backend,
      options: {
        ...o,
        corpus: corpusName,
        ...(initFrom ? { initFrom } : {}),
        ...(opts.freezeEncoder ? { freezeEncoder: true } : {}),
      },
    };
    saveCheckpoint(ckptPath, {
      meta,
      weights: model.stateDict(),
      optimizer: checkpointMoments(adam.stateDict()),
    });
  };

  let lastEval: EvalResult | null = null;
  let lastEvalStep = -1;
  let windowStart = now();
  let windowSteps = 0;
  let windowSum: StepStats = { loss: 0, focal: 0, dice: 0, iouMse: 0, trainIou: 0, gradNorm: 0 };
  try {
    if (step === 0 && o.evalEvery > 0) lastEval = runEval();
    while (step < o.steps && !opts.signal?.aborted) {
      const batch = buildBatch(stepSamples(corpus, nextSample, o.batch), cfg);
      const lr = learningRate(o, step);
      const st = trainStep(model, adam, batch, lr, opts.freezeEncoder === true);
      if (!Number.isFinite(st.loss))
        throw new Error(`loss became ${st.loss} at step ${step + 1}; lower --lr`);
      step++;
      nextSample += o.batch;
      windowSteps++;
      for (const k of Object.keys(windowSum) as (keyof StepStats)[]) windowSum[k] += st[k];

      if (step % o.logEvery === 0 || step === o.steps) {
        const dt = now() - windowStart;
        const exPerSec = (windowSteps * o.batch) / Math.max(dt, 1e-9);
        const mean = Object.fromEntries(
          Object.entries(windowSum).map(([k, v]) => [k, v / windowSteps]),
        ) as unknown as StepStats;
        const eta = ((o.steps - step) * o.batch) / exPerSec;
        log(
          `step ${step}/${o.steps}  loss ${mean.loss.toFixed(4)} (focal ${mean.focal.toFixed(4)} dice ${mean.dice.toFixed(4)} ` +
            `iou-mse ${mean.iouMse.toFixed(4)})  train IoU ${mean.trainIou.toFixed(3)}  lr ${lr.toExponential(2)}  ` +
            `|g| ${mean.gradNorm.toFixed(2)}  ${exPerSec.toFixed(2)} ex/s  ETA ${fmtDuration(eta)}`,
        );
        writeLog({ type: 'train', step, lr, exPerSec, elapsed: Math.round(elapsedNow()), ...mean });
        windowStart = now();
        windowSteps = 0;
        windowSum = { loss: 0, focal: 0, dice: 0, iouMse: 0, trainIou: 0, gradNorm: 0 };
      }
      const evalNow = o.evalEvery > 0 && step % o.evalEvery === 0;
      if (evalNow) lastEval = runEval();
      if (evalNow || step % o.checkpointEvery === 0) save();
      // Let SIGINT/SIGTERM handlers run between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
    const finished = step >= o.steps;
    if (finished && lastEvalStep !== step) lastEval = runEval();
    save();
    if (!finished) log(`stopped at step ${step}; checkpoint saved to ${ckptPath} (run again to resume)`);
    return { step, finished, elapsedSeconds: elapsedNow(), lastEval, weights: model.stateDict() };
  } finally {
    adam.dispose();
    model.dispose();
  }
}

/**
 * Times `timed` training steps (after one warm-up step) from a fresh initialisation, writing nothing.
 * Returns the median seconds per step and logs each step.
 */
export function benchmarkPretrainSteps(
  opts: PretrainOptions,
  timed = 5,
): { secondsPerStep: number; dataSecondsPerStep: number } {
  const o = resolvePretrainOptions(opts);
  const log = opts.log ?? ((line: string) => console.log(line));
  const cfg = getPreset(o.preset);
  const model = createTrainableSam(cfg, initSamStateDict(cfg, o.seed));
  const adam = createAdam(model.variables, { lr: o.lr, clipNorm: o.clipNorm });
  const corpus = createGenericCorpus({ seed: o.seed, size: cfg.imgSize, targetsPerImage: o.targetsPerImage });
  const times: number[] = [];
  let data = 0;
  try {
    for (let s = 0; s <= timed; s++) {
      const t0 = performance.now();
      const batch = buildBatch(stepSamples(corpus, s * o.batch, o.batch), cfg);
      const t1 = performance.now();
      const st = trainStep(model, adam, batch, learningRate(o, s));
      const sec = (performance.now() - t0) / 1000;
      if (s > 0) {
        times.push(sec);
        data += (t1 - t0) / 1000;
      }
      log(
        `bench step ${s}${s === 0 ? ' (warm-up)' : ''}: ${sec.toFixed(2)} s ` +
          `(data ${((t1 - t0) / 1000).toFixed(2)} s), loss ${st.loss.toFixed(4)}`,
      );
    }
  } finally {
    adam.dispose();
    model.dispose();
  }
  times.sort((x, y) => x - y);
  const med = times[Math.floor(times.length / 2)];
  log(
    `bench: batch ${o.batch} × ${o.targetsPerImage} targets: median ${med.toFixed(2)} s/step ` +
      `(min ${times[0].toFixed(2)}), ` +
      `${(o.batch / med).toFixed(2)} images/s (data ${(data / times.length).toFixed(2)} s/step)`,
  );
  return { secondsPerStep: med, dataSecondsPerStep: data / times.length };
}
