/**
 * Validation as the spec evaluates: one box prompt per ground-truth region (its tight box, no jitter; a region is
 * a connected component of a class mask by default, see splitRegions), the
 * decoder's single mask, logits brought to the original image size exactly as the predictor does
 * (postprocessMasks), mask = logits > 0; IoU, Dice and boundary IoU per region, then the mean over each image's
 * regions, then over images. Several embedding transforms (a trained Alignment Layer, the identity = frozen
 * SAM) are scored on the same cached embeddings and prompts, side by side, with the box-fill reference (the IoU
 * of simply filling the prompt box).
 *
 * The decoder runs on TF.js (all of an image's boxes in one batch) unless an inference engine is given (ONNX
 * Runtime, issue 18): then each transform's output still comes from TF.js (the Alignment Layer is small) and the
 * engine decodes it, one box per call as the engine's interface takes prompts. A transform with a decoder delta
 * decodes on TF.js either way (the ONNX Runtime engine's decoder graph is the frozen one). Gradients never pass
 * through here, so the engine changes only speed and float rounding (a pixel whose logit is within rounding of
 * 0 can flip).
 */
import type { DecoderDelta } from '../sam/decoder-delta';
import { tf } from '../sam/tf';
import type { EmbeddingTransform } from '../casam/align-layer';
import {
  AggregateMetrics,
  RegionMetrics,
  aggregateMetrics,
  boundaryIou,
  maskMetrics,
} from '../casam/metrics';
import { gridSize } from '../sam/config';
import { type SamConfig, maskInputSize } from '../sam/config';
import type { SamEngine } from '../sam/engine';
import type { Sam } from '../sam/sam';
import { postprocessMasks } from '../sam/transforms';
import { HostTensor, float32Tensor } from '../tensor/host-tensor';
import { RegionOptions, splitRegions } from './regions';
import { loadEmbedding } from './embedding-cache';
import { PromptBox, maskBoundingBox, toModelFrame } from './prompt-sampler';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import type { EmbeddedItem } from './training-item';

export interface RegionScore extends RegionMetrics {
  classId: string;
}

export interface ImageScores {
  id: string;
  regions: RegionScore[];
}

export interface MethodScores {
  aggregate: AggregateMetrics;
  perImage: ImageScores[];
}

export interface EvaluateBoxPromptsOptions {
  sam: Sam;
  items: readonly EmbeddedItem[];
  /** Named transforms to compare, e.g. { align, frozen: IDENTITY_ALIGNMENT }. */
  transforms: Record<string, EmbeddingTransform>;
  /**
   * Decodes through this engine (e.g. ONNX Runtime) instead of `sam`'s TF.js decoder; it must hold the same base
   * model. Transforms with a decoder delta still decode on TF.js.
   */
  engine?: SamEngine;
  /** A decoder delta per transform name (a task's LoRA next to its Alignment Layer); others decode frozen. */
  decoderDeltas?: Record<string, DecoderDelta>;
  /** What one region is (default: each connected component of a class mask; see splitRegions). */
  regions?: RegionOptions;
  /** Also compute boundary IoU (default true). */
  boundary?: boolean;
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface BoxPromptEvaluation {
  /** One entry per transform, plus `boxFill`. */
  methods: Record<string, MethodScores>;
  /** Images without any non-empty region (not scored). */
  skippedImages: string[];
}

/** The filled box (inclusive pixel indices, rounded outward) as a 0/1 mask. */
function boxFill(box: PromptBox, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(width - 1, Math.ceil(box[2]));
  const y1 = Math.min(height - 1, Math.ceil(box[3]));
  for (let y = y0; y <= y1; y++) out.fill(1, y * width + x0, y * width + x1 + 1);
  return out;
}

function score(
  logits: ArrayLike<number>,
  target: Uint8Array,
  h: number,
  w: number,
  boundary: boolean,
): RegionMetrics {
  const m = maskMetrics(logits, target);
  const r: RegionMetrics = { iou: m.iou, dice: m.dice };
  if (boundary) r.boundaryIou = boundaryIou(logits, target, h, w);
  return r;
}

/** Low-res logits [R,1,4g,4g] of one image's R boxes (input frame) through `engine`, one call per box. */
async function decodeOnEngine(
  engine: SamEngine,
  cfg: SamConfig,
  embeddings: HostTensor,
  boxes: ArrayLike<number>,
  r: number,
): Promise<HostTensor> {
  const m = maskInputSize(cfg);
  const out = new Float32Array(r * m * m);
  for (let i = 0; i < r; i++) {
    const box: [number, number, number, number] = [
      boxes[4 * i],
      boxes[4 * i + 1],
      boxes[4 * i + 2],
      boxes[4 * i + 3],
    ];
    const d = await engine.decode(embeddings, { box }, { multimask: false });
    out.set(d.lowResMasks.data as Float32Array, i * m * m);
  }
  return float32Tensor([r, 1, m, m], out);
}

export async function evaluateBoxPrompts(opts: EvaluateBoxPromptsOptions): Promise<BoxPromptEvaluation> {
  const { sam, engine } = opts;
  const cfg = sam.config;
  if (engine && (engine.config.outChans !== cfg.outChans || engine.config.imgSize !== cfg.imgSize))
    throw new TrainerInputError(
      `engine (${engine.config.name}: C=${engine.config.outChans}, ${engine.config.imgSize} px) and model (${cfg.name}: C=${cfg.outChans}, ${cfg.imgSize} px) differ`,
    );
  const g = gridSize(cfg);
  const boundary = opts.boundary ?? true;
  const names = Object.keys(opts.transforms);
  const per: Record<string, ImageScores[]> = { boxFill: [] };
  for (const n of names) per[n] = [];
  const skippedImages: string[] = [];
  const total = opts.items.length;
  for (const [done, item] of opts.items.entries()) {
    if (opts.signal?.aborted)
      throw new TrainingAbortedError('evaluation', `${done} of ${total} images scored`);
    const [h, w] = item.handle.originalSize;
    for (const m of item.masks)
      if (m.mask.length !== h * w)
        throw new TrainerInputError(
          `item ${item.id}: mask ${m.classId} has ${m.mask.length} values, image is ${w}×${h}`,
        );
    const regions = splitRegions(item.masks, w, h, opts.regions);
    if (regions.length === 0) {
      skippedImages.push(item.id);
      continue;
    }
    const cached = loadEmbedding(item.handle);
    const boxes = regions.map((m) => maskBoundingBox({ mask: m.mask, width: w, height: h })!);
    const r = regions.length;
    const frame = toModelFrame(
      { kind: 'box', pointsPerPrompt: 0, prompts: boxes.map((box) => ({ kind: 'box' as const, box })) },
      boxes.map(() => [h, w] as [number, number]),
      cfg.imgSize,
    );
    per['boxFill'].push({
      id: item.id,
      regions: regions.map((m, i) => ({
        classId: m.classId,
        ...score(boxFill(boxes[i], w, h), m.mask, h, w, boundary),
      })),
    });
    const x = tf.tensor4d(cached.embeddings.data as Float32Array, [1, cfg.outChans, g, g]);
    try {
      for (const name of names) {
        const delta = opts.decoderDeltas?.[name];
        let lowHost: HostTensor;
        if (engine && !delta) {
          const y = tf.tidy(() => opts.transforms[name].forward(x));
          const yHost = float32Tensor([...y.shape], (await y.data()) as Float32Array);
          y.dispose();
          lowHost = await decodeOnEngine(engine, cfg, yHost, frame.boxes!, r);
        } else {
          const low = tf.tidy(() => {
            const { sparse, dense } = sam.promptEncoder.encode({ boxes: tf.tensor2d(frame.boxes!, [r, 4]) });
            const y = opts.transforms[name].forward(x);
            return sam.maskDecoder.forward(y, sam.densePe, sparse, dense, false, undefined, delta).masks;
          });
          lowHost = float32Tensor([...low.shape], (await low.data()) as Float32Array);
          low.dispose();
        }
        const up = postprocessMasks(lowHost, cached.inputSize, cached.originalSize, cfg.imgSize);
        const logits = up.data as Float32Array;
        per[name].push({
          id: item.id,
          regions: regions.map((m, i) => ({
            classId: m.classId,
            ...score(logits.subarray(i * h * w, (i + 1) * h * w), m.mask, h, w, boundary),
          })),
        });
      }
    } finally {
      x.dispose();
    }
    opts.onProgress?.({ done: done + 1, total });
  }
  const methods: Record<string, MethodScores> = {};
  for (const [name, images] of Object.entries(per)) {
    if (images.length === 0) throw new TrainerInputError('no validation image has a non-empty region');
    methods[name] = { aggregate: aggregateMetrics(images.map((i) => i.regions)), perImage: images };
  }
  return { methods, skippedImages };
}
