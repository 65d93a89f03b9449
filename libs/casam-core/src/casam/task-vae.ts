/**
 * TaskVAE: one per task, over attention-pooled features f [N,C]. Scores how well an image fits the task.
 *   encoder: h = GELU(Linear C→H), μ = Linear H→64, logvar = Linear H→64           H = max(128, C // 2)
 *   decoder: x̂ = Linear H→C (GELU(Linear 64→H (z)))
 *   score = mean_d (x̂ − x)² + β·KL,  KL = −½ Σ_k (1 + logvar − μ² − e^logvar),  β = 16.5
 * Inference uses z = μ so routing is deterministic; training samples z = μ + e^{logvar/2}·ε (seeded ε).
 */
import { tf } from '../sam/tf';
import { gelu, linear } from '../sam/layers';
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import {
  TaskVaeDims,
  specParameterCount,
  taskVaeDims,
  taskVaeLinears,
  taskVaeStateDictSpec,
} from './casam-shapes';
import {
  Rng,
  createRng,
  deriveSeed,
  normalArray,
  shuffledIndices,
  uniformArray,
} from '../random/seeded-random';
import { checkStateDict } from './state-dict-check';
import { createHostVaeTrainer } from './task-vae-host';

/** KL weight of the score and of the training loss (the authors' setting). */
export const VAE_BETA = 16.5;

/** Features [N,C]: host float tensor or a tf tensor. */
export type FeatureMatrix = HostTensor | tf.Tensor2D;

export class TaskVaeInputError extends Error {
  override name = 'TaskVaeInputError';
}

export interface TaskVaeOutputs {
  h: tf.Tensor2D;
  mu: tf.Tensor2D;
  logvar: tf.Tensor2D;
  xhat: tf.Tensor2D;
  /** Per sample [N]. */
  recon: tf.Tensor1D;
  kl: tf.Tensor1D;
  score: tf.Tensor1D;
}

export interface TaskVae extends TaskVaeDims {
  readonly beta: number;
  readonly variables: readonly tf.Variable[];
  namedVariables(): Map<string, tf.Variable>;
  /** Deterministic pass (z = μ) with every intermediate; all tensors are new and owned by the caller. */
  forward(x: tf.Tensor2D): TaskVaeOutputs;
  /** Deterministic per-sample score [N]. */
  score(x: tf.Tensor2D): tf.Tensor1D;
  /** Deterministic per-sample scores of host or tf features. */
  scoreFeatures(features: FeatureMatrix): Float32Array;
  /** Training loss: batch mean of recon + β·KL with z = μ + σ·ε; ε from `noise` ([N,64]) or drawn from an rng. */
  loss(x: tf.Tensor2D, noise: tf.Tensor2D | Rng): tf.Scalar;
  stateDict(): StateDict;
  loadStateDict(sd: StateDict): void;
  parameterCount(): number;
  dispose(): void;
}

export interface TaskVaeOptions {
  /** Feature width C. */
  inputDim: number;
  /** Seed of the Xavier-uniform initialisation (default 0). Ignored when `stateDict` is given. */
  seed?: number;
  stateDict?: StateDict;
  /** Default 16.5. */
  beta?: number;
  trainable?: boolean;
}

/** Xavier-uniform weights (U(±√(6/(in+out)))) and zero biases, drawn in construction order. */
export function initialTaskVaeStateDict(inputDim: number, seed = 0): StateDict {
  const rng = createRng(seed);
  const sd: StateDict = new Map();
  for (const [name, i, o] of taskVaeLinears(taskVaeDims(inputDim))) {
    sd.set(`${name}.weight`, float32Tensor([o, i], uniformArray(o * i, Math.sqrt(6 / (i + o)), rng)));
    sd.set(`${name}.bias`, float32Tensor([o]));
  }
  return sd;
}

/** A feature matrix as a tf tensor [N,C] (a new tensor; the caller disposes it). */
export function featureTensor(features: FeatureMatrix, channels: number): tf.Tensor2D {
  if (features instanceof tf.Tensor) {
    if (features.rank !== 2 || features.shape[1] !== channels)
      throw new TaskVaeInputError(`features must be [N,${channels}], got [${features.shape}]`);
    if (features.dtype !== 'float32')
      throw new TaskVaeInputError(`features must be float32, got ${features.dtype}`);
    return tf.clone(features);
  }
  if (features.shape.length !== 2 || features.shape[1] !== channels)
    throw new TaskVaeInputError(`features must be [N,${channels}], got [${features.shape}]`);
  let data: Float32Array;
  try {
    data = toFloat32(features);
  } catch {
    throw new TaskVaeInputError(`features must be floating-point, got ${features.dtype}`);
  }
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]))
      throw new TaskVaeInputError(`features hold a non-finite value at row ${Math.floor(i / channels)}`);
  // Copy: backends may keep the array they are given, and this one belongs to the caller.
  return tf.tensor2d(Float32Array.from(data), [features.shape[0], channels]);
}

export function createTaskVae(opts: TaskVaeOptions): TaskVae {
  const dims = taskVaeDims(opts.inputDim);
  const beta = opts.beta ?? VAE_BETA;
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new TaskVaeInputError(`beta must be ≥ 0, got ${beta}`);
  const spec = taskVaeStateDictSpec(dims.inputDim);
  const what = `TaskVAE (C=${dims.inputDim})`;
  const initial = opts.stateDict ?? initialTaskVaeStateDict(dims.inputDim, opts.seed ?? 0);
  checkStateDict(initial, spec, what);
  const trainable = opts.trainable ?? true;

  // Linear weights are kept [in,out] so the forward is x·W without a transpose.
  const toTf = (name: string, h: HostTensor): tf.Tensor =>
    name.endsWith('.weight')
      ? tf.transpose(tf.tensor2d(toFloat32(h), h.shape as [number, number]))
      : tf.tensor1d(toFloat32(h));
  const vars = new Map<string, tf.Variable>();
  for (const { name } of spec) {
    const t = tf.tidy(() => toTf(name, initial.get(name)!));
    vars.set(name, tf.variable(t, trainable));
    t.dispose();
  }
  const lin = (name: string): { w: tf.Tensor2D; b: tf.Tensor1D } => ({
    w: vars.get(`${name}.weight`)! as tf.Tensor2D,
    b: vars.get(`${name}.bias`)! as tf.Tensor1D,
  });
  const enc0 = lin('encoder.0');
  const fcMu = lin('fc_mu');
  const fcLogvar = lin('fc_logvar');
  const dec0 = lin('decoder.0');
  const dec2 = lin('decoder.2');
  let disposed = false;

  function checkInput(x: tf.Tensor): void {
    if (disposed) throw new TaskVaeInputError('this TaskVAE has been disposed');
    if (x.rank !== 2 || x.shape[1] !== dims.inputDim)
      throw new TaskVaeInputError(`input must be [N,${dims.inputDim}], got [${x.shape}]`);
    if (x.dtype !== 'float32') throw new TaskVaeInputError(`input must be float32, got ${x.dtype}`);
  }

  const decode = (z: tf.Tensor): tf.Tensor2D => linear(gelu(linear(z, dec0)), dec2) as tf.Tensor2D;

  /** recon, KL and score per sample from the pieces. */
  function terms(
    x: tf.Tensor2D,
    xhat: tf.Tensor2D,
    mu: tf.Tensor2D,
    logvar: tf.Tensor2D,
  ): { recon: tf.Tensor1D; kl: tf.Tensor1D; score: tf.Tensor1D } {
    const recon = tf.mean(tf.squaredDifference(xhat, x), 1) as tf.Tensor1D;
    const kl = tf.mul(
      tf.sum(tf.sub(tf.sub(tf.add(logvar, 1), tf.square(mu)), tf.exp(logvar)), 1),
      -0.5,
    ) as tf.Tensor1D;
    return { recon, kl, score: tf.add(recon, tf.mul(kl, beta)) as tf.Tensor1D };
  }

  function forward(x: tf.Tensor2D): TaskVaeOutputs {
    checkInput(x);
    return tf.tidy(() => {
      const h = gelu(linear(x, enc0)) as tf.Tensor2D;
      const mu = linear(h, fcMu) as tf.Tensor2D;
      const logvar = linear(h, fcLogvar) as tf.Tensor2D;
      const xhat = decode(mu);
      return { h, mu, logvar, xhat, ...terms(x, xhat, mu, logvar) };
    });
  }

  function score(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => forward(x).score);
  }

  return {
    ...dims,
    beta,
    variables: [...vars.values()],
    namedVariables: () => new Map(vars),
    forward,
    score,
    scoreFeatures(features: FeatureMatrix): Float32Array {
      const x = featureTensor(features, dims.inputDim);
      try {
        const s = score(x);
        const out = Float32Array.from(s.dataSync() as Float32Array);
        s.dispose();
        return out;
      } finally {
        x.dispose();
      }
    },
    loss(x: tf.Tensor2D, noise: tf.Tensor2D | Rng): tf.Scalar {
      checkInput(x);
      const n = x.shape[0];
      if (
        noise instanceof tf.Tensor &&
        (noise.rank !== 2 || noise.shape[0] !== n || noise.shape[1] !== dims.latentDim)
      )
        throw new TaskVaeInputError(`noise must be [${n},${dims.latentDim}], got [${noise.shape}]`);
      return tf.tidy(() => {
        const eps =
          noise instanceof tf.Tensor
            ? noise
            : tf.tensor2d(normalArray(n * dims.latentDim, noise), [n, dims.latentDim]);
        const h = gelu(linear(x, enc0));
        const mu = linear(h, fcMu) as tf.Tensor2D;
        const logvar = linear(h, fcLogvar) as tf.Tensor2D;
        const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps));
        return tf.mean(terms(x, decode(z), mu, logvar).score) as tf.Scalar;
      });
    },
    stateDict(): StateDict {
      if (disposed) throw new TaskVaeInputError('this TaskVAE has been disposed');
      const sd: StateDict = new Map();
      for (const { name, shape } of spec) {
        const t = tf.tidy(() =>
          name.endsWith('.weight') ? tf.transpose(vars.get(name)!) : tf.clone(vars.get(name)!),
        );
        sd.set(name, float32Tensor([...shape], Float32Array.from(t.dataSync() as Float32Array)));
        t.dispose();
      }
      return sd;
    },
    loadStateDict(sd: StateDict): void {
      if (disposed) throw new TaskVaeInputError('this TaskVAE has been disposed');
      checkStateDict(sd, spec, what);
      for (const { name } of spec) tf.tidy(() => vars.get(name)!.assign(toTf(name, sd.get(name)!)));
    },
    parameterCount: () => specParameterCount(spec),
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const v of vars.values()) v.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Training

export interface VaeTrainingProgress {
  /** 1-based epoch just finished. */
  epoch: number;
  epochs: number;
  /** Sample-weighted mean training loss of that epoch. */
  loss: number;
  steps: number;
}

/** Everything needed to continue a run after an interruption, at an epoch boundary. */
export interface VaeTrainingCheckpoint {
  completedEpochs: number;
  epochLosses: number[];
  vae: StateDict;
  optimizer: StateDict;
}

export interface TrainTaskVaeOptions {
  /** At least this many epochs; more when `minSteps` asks for them. */
  epochs?: number;
  /**
   * At least this many optimizer steps: the epoch count is raised to ceil(minSteps / steps per epoch) when the
   * data is too small for `epochs` to reach it (0: exactly `epochs`). Default: DEFAULT_VAE_OPTIONS.minSteps when
   * `epochs` is left to its default too, 0 when the caller names `epochs` (then it gets exactly that many).
   */
  minSteps?: number;
  batchSize?: number;
  lr?: number;
  /** Seeds the initialisation, the shuffles and the noise (default 0). */
  seed?: number;
  beta?: number;
  onProgress?: (p: VaeTrainingProgress) => void;
  /** Checked between epochs; training stops there with `stopped: true`. */
  signal?: AbortSignal;
  /** Continue from a checkpoint of a run with the same features and options. */
  resume?: VaeTrainingCheckpoint;
  /** Called after every epoch (e.g. to persist it). */
  onCheckpoint?: (c: VaeTrainingCheckpoint) => void | Promise<void>;
}

export interface TrainTaskVaeResult {
  vae: TaskVae;
  epochLosses: number[];
  completedEpochs: number;
  stopped: boolean;
}

export class VaeTrainingError extends Error {
  override name = 'VaeTrainingError';
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new VaeTrainingError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * TaskVAE training options when the caller names none (`site-agent train --help` prints them).
 *
 * minSteps: the paper's 10 epochs assume ~1000 images per task (~1700 steps at batch 6). With the 32–48 images a
 * site may have, 10 epochs are 50–80 steps: the fold VAEs τ is calibrated on and the final VAE are barely trained,
 * their held-out scores are wide and τ accepts images of unseen domains. A floor of 150 steps (epochs raised to
 * ceil(150 / steps per epoch); tasks of ≥ 113 images are unaffected), `npm run bench:tau-data` rows N = 32 / 48 with
 * the same features, seeds and test images (paper rule): unseen fallback 91.7% → 100% / 95.8% → 100%, routing
 * accuracy 93.1% → 95.1% / 92.4% → 94.4%, own acceptance 97.9% → 97.2% / 96.5% → 95.8% (one image of 144 each,
 * τ being p97), median τ 1.31 → 0.93 / 1.05 → 0.79. Costs ~2.5× the VAE steps of a 33-image task.
 */
export const DEFAULT_VAE_OPTIONS = Object.freeze({ epochs: 10, batchSize: 6, lr: 5e-4, minSteps: 150 });

/** Epochs a run over `n` rows trains: `epochs`, raised until it takes at least `minSteps` optimizer steps. */
export function vaeEpochsFor(n: number, o: { epochs: number; batchSize: number; minSteps?: number }): number {
  const perEpoch = Math.max(1, Math.ceil(n / o.batchSize));
  return Math.max(o.epochs, Math.ceil((o.minSteps ?? 0) / perEpoch));
}

/**
 * Trains a TaskVAE with Adam on shuffled seeded batches (the last batch may be smaller). Each epoch's shuffle and
 * noise come from their own derived seed, so a resumed run reproduces an uninterrupted one exactly.
 */
export async function trainTaskVae(
  features: FeatureMatrix,
  opts: TrainTaskVaeOptions = {},
): Promise<TrainTaskVaeResult> {
  const minEpochs = positiveInt('epochs', opts.epochs ?? DEFAULT_VAE_OPTIONS.epochs);
  const batchSize = positiveInt('batchSize', opts.batchSize ?? DEFAULT_VAE_OPTIONS.batchSize);
  const minSteps = opts.minSteps ?? (opts.epochs === undefined ? DEFAULT_VAE_OPTIONS.minSteps : 0);
  if (!Number.isInteger(minSteps) || minSteps < 0)
    throw new VaeTrainingError(`minSteps must be a non-negative integer, got ${minSteps}`);
  const lr = opts.lr ?? DEFAULT_VAE_OPTIONS.lr;
  const seed = opts.seed ?? 0;
  const shape = features.shape;
  if (shape.length !== 2) throw new TaskVaeInputError(`features must be [N,C], got [${shape}]`);
  const [n, c] = shape;
  if (n < 1) throw new TaskVaeInputError('no features to train on');
  const epochs = vaeEpochsFor(n, { epochs: minEpochs, batchSize, minSteps });
  // The steps run on typed arrays (task-vae-host.ts: TF.js dispatch costs more than a TaskVAE's arithmetic); the
  // model made here checks the options and holds the result.
  const xt = featureTensor(features, c);
  const x = Float32Array.from(xt.dataSync() as Float32Array);
  xt.dispose();
  const vae = createTaskVae({ inputDim: c, seed: deriveSeed(seed, 'vae-init'), beta: opts.beta });
  try {
    if (opts.resume) vae.loadStateDict(opts.resume.vae); // checks the checkpoint's shapes
    const trainer = createHostVaeTrainer(c, opts.resume ? opts.resume.vae : vae.stateDict(), {
      lr,
      beta: vae.beta,
    });
    const epochLosses: number[] = [];
    let start = 0;
    if (opts.resume) {
      const r = opts.resume;
      if (!Number.isInteger(r.completedEpochs) || r.completedEpochs < 0 || r.completedEpochs > epochs)
        throw new VaeTrainingError(`checkpoint has ${r.completedEpochs} completed epochs of ${epochs}`);
      trainer.loadOptimizerStateDict(r.optimizer);
      epochLosses.push(...r.epochLosses);
      start = r.completedEpochs;
    }
    let stopped = false;
    for (let epoch = start; epoch < epochs; epoch++) {
      if (opts.signal?.aborted) {
        stopped = true;
        break;
      }
      const order = shuffledIndices(n, createRng(deriveSeed(seed, 'shuffle', epoch)));
      const noise = createRng(deriveSeed(seed, 'noise', epoch));
      let sum = 0;
      let steps = 0;
      for (let b = 0; b < n; b += batchSize) {
        const idx = order.slice(b, Math.min(n, b + batchSize));
        sum += trainer.step(x, idx, noise) * idx.length;
        steps++;
      }
      const loss = sum / n;
      epochLosses.push(loss);
      opts.onProgress?.({ epoch: epoch + 1, epochs, loss, steps });
      if (opts.onCheckpoint)
        await opts.onCheckpoint({
          completedEpochs: epoch + 1,
          epochLosses: [...epochLosses],
          vae: trainer.stateDict(),
          optimizer: trainer.optimizerStateDict(),
        });
      await new Promise<void>((r) => setImmediate(r)); // let progress output and aborts through
    }
    vae.loadStateDict(trainer.stateDict());
    return { vae, epochLosses, completedEpochs: epochLosses.length, stopped };
  } catch (e) {
    vae.dispose();
    throw e;
  }
}
