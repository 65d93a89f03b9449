/**
 * Elastic Weight Consolidation (Kirkpatrick et al. 2017) for one shared Alignment Layer trained on tasks one
 * after another — the regularisation baseline of the continual benchmark, not part of CA-SAM itself.
 *
 *   Fisher    diagonal empirical Fisher of the task's training loss at the weights after that task:
 *             F = mean over images of (∂ loss_image / ∂θ)², one image and its regions per pass, prompts drawn
 *             as in training (box or points, seeded), loss = the trainer's focal + Dice + IoU-MSE
 *   online    after each task F ← γ·F + F_task and θ* ← θ_task (Schwarz et al. 2018's online EWC; γ = 1 sums
 *             the Fishers), so the penalty keeps one anchor whatever the number of tasks
 *   penalty   λ/2 · Σ F · (θ − θ*)², added to every step's loss (AlRegularizer)
 *
 * Tensors are keyed by the AL's PyTorch names but kept in the variables' TF layout (the layout gradients come
 * in), so a saved Fisher pairs with `namedVariables()`, not with `stateDict()`.
 */
import { createHash } from 'node:crypto';
import { ensureGradients, tf } from '../sam/tf';
import type { AlignmentLayer } from '../casam/align-layer';
import { segmentationLoss } from '../casam/losses';
import { createRng, deriveSeed } from '../random/seeded-random';
import { gridSize } from '../sam/config';
import type { Sam } from '../sam/sam';
import { postprocessMasksTf } from '../sam/transforms';
import { HostTensor, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import type { AlRegularizer, LossResolution } from './al-trainer';
import { defaultLossResolution, encodeModelFramePrompts, repeatForPrompts } from './al-trainer';
import { loadEmbedding } from './embedding-cache';
import {
  MaskRef,
  PromptSamplerOptions,
  downsampleMask,
  maskToInputFrame,
  resolvePromptSamplerOptions,
  samplePromptBatch,
  toModelFrame,
} from './prompt-sampler';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import { RegionOptions, splitRegions } from './regions';
import type { EmbeddedItem, RegionMask } from './training-item';

/** Per-parameter values keyed by the AL's PyTorch names, in the variables' TF layout. */
export type ParameterMap = Map<string, HostTensor>;

export interface FisherOptions {
  sam: Sam;
  /** The layer after training on the task (not changed). */
  align: AlignmentLayer;
  items: readonly EmbeddedItem[];
  /** At most this many regions of an image per pass (default 5, the trainer's regions per image). */
  regionsPerImage?: number;
  /** Use at most this many images (the first ones; default all). */
  maxImages?: number;
  seed?: number;
  prompts?: PromptSamplerOptions;
  /** What one region is (default: each connected component of a class mask; as the trainer). */
  regions?: RegionOptions;
  /** Default: the preset's DEFAULT_LOSS_RESOLUTION. */
  lossResolution?: LossResolution;
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** Diagonal empirical Fisher of the task loss at the layer's current weights. */
export async function computeFisherDiagonal(opts: FisherOptions): Promise<ParameterMap> {
  const { sam, align } = opts;
  const cfg = sam.config;
  const g = gridSize(cfg);
  const S = cfg.imgSize;
  const low = 4 * g;
  const res = (opts.lossResolution ?? defaultLossResolution(cfg.name)) === 'input' ? S : low;
  const r = opts.regionsPerImage ?? 5;
  if (!Number.isInteger(r) || r < 1) throw new TrainerInputError(`regionsPerImage must be ≥ 1, got ${r}`);
  const prompts = resolvePromptSamplerOptions(opts.prompts);
  const named = align.namedVariables();
  const names = [...named.keys()];
  const vars = names.map((k) => named.get(k)!);
  const sums = names.map((k) => new Float32Array(named.get(k)!.size));
  const regionsOf = (it: EmbeddedItem): RegionMask[] =>
    splitRegions(it.masks, it.handle.originalSize[1], it.handle.originalSize[0], opts.regions);
  const items = opts.items.filter((it) => regionsOf(it).length > 0).slice(0, opts.maxImages ?? Infinity);
  if (items.length === 0) throw new TrainerInputError('no image with a non-empty mask for the Fisher');
  for (const [done, item] of items.entries()) {
    if (opts.signal?.aborted)
      throw new TrainingAbortedError('Fisher information', `${done} of ${items.length} images done`);
    const rng = createRng(deriveSeed(opts.seed ?? 0, 'ewc-fisher', done));
    const cached = loadEmbedding(item.handle);
    const [h, w] = cached.originalSize;
    const regions: MaskRef[] = regionsOf(item)
      .slice(0, r)
      .map((m) => ({ mask: m.mask, width: w, height: h }));
    const b = regions.length;
    const frame = toModelFrame(
      samplePromptBatch(regions, rng, prompts),
      regions.map(() => [h, w] as [number, number]),
      S,
    );
    const target = new Float32Array(b * res * res);
    regions.forEach((m, i) => {
      const full = maskToInputFrame(m, S);
      target.set(res === S ? full : downsampleMask(full, S, S / low), i * res * res);
    });
    const grads = tf.tidy(() => {
      const { sparse, dense } = encodeModelFramePrompts(sam, frame);
      const x = tf.tensor4d(cached.embeddings.data as Float32Array, [1, cfg.outChans, g, g]);
      const tgt = tf.tensor4d(target, [b, 1, res, res]);
      ensureGradients();
      const { grads: gr } = tf.variableGrads(() => {
        // One AL output repeated for the image's prompts (repeatForPrompts: the decoder's own repeat has no
        // gradient in TF.js).
        const y = repeatForPrompts(align.forward(x), tf.ones([b, 1]));
        const out = sam.maskDecoder.forward(y, sam.densePe, sparse, dense, false);
        const logits = res === S ? postprocessMasksTf(out.masks, [S, S], [S, S], S) : out.masks;
        return segmentationLoss(logits, tgt, out.iou).total;
      }, vars);
      return vars.map((v) => tf.square(gr[v.name]));
    });
    const data = await Promise.all(grads.map((t) => t.data()));
    tf.dispose(grads);
    data.forEach((d, k) => {
      const s = sums[k];
      for (let i = 0; i < s.length; i++) s[i] += (d as Float32Array)[i];
    });
    opts.onProgress?.({ done: done + 1, total: items.length });
    await new Promise<void>((res2) => setImmediate(res2));
  }
  const out: ParameterMap = new Map();
  names.forEach((k, i) => {
    const s = sums[i];
    for (let j = 0; j < s.length; j++) s[j] /= items.length;
    out.set(k, float32Tensor([...named.get(k)!.shape], s));
  });
  return out;
}

/** The layer's weights in the variables' layout (the anchor θ* of the penalty). */
export function parameterSnapshot(align: AlignmentLayer): ParameterMap {
  const out: ParameterMap = new Map();
  for (const [k, v] of align.namedVariables())
    out.set(k, float32Tensor([...v.shape], Float32Array.from(v.dataSync() as Float32Array)));
  return out;
}

/** γ·previous + next, elementwise (online EWC). `previous` null: a copy of `next`. */
export function accumulateFisher(previous: ParameterMap | null, next: ParameterMap, gamma = 1): ParameterMap {
  const out: ParameterMap = new Map();
  for (const [k, t] of next) {
    const n = toFloat32(t);
    const d = Float32Array.from(n);
    const p = previous?.get(k);
    if (previous && !p) throw new TrainerInputError(`Fisher lacks ${k}`);
    if (p) {
      const pv = toFloat32(p);
      if (pv.length !== d.length)
        throw new TrainerInputError(`Fisher ${k} has ${pv.length} values, not ${d.length}`);
      for (let i = 0; i < d.length; i++) d[i] += gamma * pv[i];
    }
    out.set(k, float32Tensor([...t.shape], d));
  }
  return out;
}

export interface EwcPenalty extends AlRegularizer {
  readonly lambda: number;
  dispose(): void;
}

/** λ/2 · Σ F (θ − θ*)² as a regularizer for trainAlignmentLayer; dispose it after training. */
export function createEwcPenalty(opts: {
  anchor: ParameterMap;
  fisher: ParameterMap;
  lambda: number;
}): EwcPenalty {
  const { anchor, fisher, lambda } = opts;
  if (!(lambda >= 0) || !Number.isFinite(lambda))
    throw new TrainerInputError(`EWC λ must be ≥ 0, got ${lambda}`);
  const h = createHash('sha256').update(`ewc\0${lambda}`);
  const terms = new Map<string, { anchor: tf.Tensor; fisher: tf.Tensor }>();
  for (const [k, a] of anchor) {
    const f = fisher.get(k);
    if (!f) throw new TrainerInputError(`Fisher lacks ${k}`);
    if (a.shape.join() !== f.shape.join())
      throw new TrainerInputError(`anchor ${k} [${a.shape}] and Fisher [${f.shape}] differ`);
    const av = toFloat32(a);
    const fv = toFloat32(f);
    h.update(k).update(new Uint8Array(av.buffer, av.byteOffset, av.byteLength));
    h.update(new Uint8Array(fv.buffer, fv.byteOffset, fv.byteLength));
    terms.set(k, {
      anchor: tf.tensor(Float32Array.from(av), a.shape),
      fisher: tf.tensor(Float32Array.from(fv), f.shape),
    });
  }
  return {
    id: `ewc:${h.digest('hex').slice(0, 16)}`,
    lambda,
    penalty(vars: ReadonlyMap<string, tf.Variable>): tf.Scalar {
      return tf.tidy(() => {
        let sum: tf.Scalar = tf.scalar(0);
        for (const [k, t] of terms) {
          const v = vars.get(k);
          if (!v) throw new TrainerInputError(`the layer has no variable ${k}`);
          sum = tf.add(sum, tf.sum(tf.mul(t.fisher, tf.square(tf.sub(v, t.anchor))))) as tf.Scalar;
        }
        return tf.mul(sum, lambda / 2) as tf.Scalar;
      });
    },
    dispose(): void {
      for (const t of terms.values()) tf.dispose([t.anchor, t.fisher]);
      terms.clear();
    },
  };
}
