import { EngineDecodeOptions, EnginePrompt, SamEngine } from './engine';
import { ResizeLongestSide, Size, postprocessMasksAndBinary, prepareImage } from './transforms';
import { HostTensor, shapeEquals } from '../tensor/host-tensor';
import { maskInputSize } from './config';
import { RgbImage } from '../image/image-io';

/** Prompts in ORIGINAL image pixels. */
export interface PredictPrompt {
  /** (x, y) points. */
  points?: [number, number][];
  /** 1 = foreground, 0 = background; one per point. */
  labels?: number[];
  box?: [number, number, number, number];
  /** Low-res logits from a previous prediction, [1,1,4g,4g]. */
  maskInput?: HostTensor;
  /** Three candidate masks (ambiguous prompts) instead of one. */
  multimask?: boolean;
}

export interface Prediction {
  /** Mask logits at the original size, [1,K,H,W]. */
  masks: HostTensor;
  /** Binary masks (logit > mask threshold), K planes of H·W, 0/1. */
  binary: Uint8Array[];
  /** Predicted IoU per mask. */
  iouPredictions: number[];
  /** [1,K,4g,4g] logits, usable as the next maskInput. */
  lowResMasks: HostTensor;
  /** Index of the mask with the highest predicted IoU. */
  best: number;
}

export class PromptError extends Error {
  override name = 'PromptError';
}

export interface EmbeddedImage {
  embeddings: HostTensor;
  originalSize: Size;
  inputSize: Size;
}

/**
 * Embeds an image once (the expensive step) and answers many prompts cheaply, on either engine.
 */
export interface SamPredictor {
  readonly engine: SamEngine;
  setImage(img: RgbImage): Promise<EmbeddedImage>;
  /** Reuses embeddings computed earlier (e.g. from the on-disk cache). */
  setEmbedding(e: EmbeddedImage): void;
  readonly current: EmbeddedImage | null;
  /** `decode.decoderDelta`: a task's decoder delta for this prediction (TF.js engine only, see SamEngine). */
  predict(prompt: PredictPrompt, decode?: Pick<EngineDecodeOptions, 'decoderDelta'>): Promise<Prediction>;
  reset(): void;
  dispose(): void;
}

export function createSamPredictor(engine: SamEngine): SamPredictor {
  const cfg = engine.config;
  const transform = new ResizeLongestSide(cfg.imgSize);
  let current: EmbeddedImage | null = null;

  function validate(p: PredictPrompt, [h, w]: Size): void {
    const n = p.points?.length ?? 0;
    if ((p.labels?.length ?? 0) !== n)
      throw new PromptError(`${n} points but ${p.labels?.length ?? 0} labels`);
    for (const [x, y] of p.points ?? []) {
      if (!Number.isFinite(x) || !Number.isFinite(y))
        throw new PromptError(`point (${x}, ${y}) is not finite`);
      if (x < 0 || y < 0 || x > w || y > h)
        throw new PromptError(`point (${x}, ${y}) is outside the ${w}×${h} image`);
    }
    for (const l of p.labels ?? [])
      if (l !== 0 && l !== 1) throw new PromptError(`point label ${l} must be 0 or 1`);
    if (p.box) {
      const [x0, y0, x1, y1] = p.box;
      if (!p.box.every(Number.isFinite)) throw new PromptError('box coordinates must be finite numbers');
      // x0 = x1 is the tight box of a one-pixel-wide region (inclusive corners, as the trainer's maskBoundingBox).
      if (!(x1 >= x0 && y1 >= y0))
        throw new PromptError(`box ${p.box.join(',')} must have x0 ≤ x1 and y0 ≤ y1`);
      if (x0 < 0 || y0 < 0 || x1 > w || y1 > h)
        throw new PromptError(`box ${p.box.join(',')} is outside the ${w}×${h} image`);
    }
    if (p.maskInput) {
      const m = maskInputSize(cfg);
      if (!shapeEquals(p.maskInput.shape, [1, 1, m, m]))
        throw new PromptError(`mask input must be [1,1,${m},${m}], got [${p.maskInput.shape}]`);
    }
    if (!n && !p.box && !p.maskInput) throw new PromptError('give at least one point, a box or a mask');
  }

  return {
    engine,
    get current() {
      return current;
    },
    async setImage(img: RgbImage): Promise<EmbeddedImage> {
      const { preprocessed, inputSize, originalSize } = prepareImage(img.data, img.height, img.width, cfg);
      const embeddings = await engine.embed(preprocessed);
      current = { embeddings, inputSize, originalSize };
      return current;
    },
    setEmbedding(e: EmbeddedImage) {
      current = e;
    },
    async predict(p: PredictPrompt, decode?: Pick<EngineDecodeOptions, 'decoderDelta'>): Promise<Prediction> {
      if (!current) throw new PromptError('no image set: call setImage first');
      const { embeddings, originalSize, inputSize } = current;
      validate(p, originalSize);
      const ep: EnginePrompt = {};
      if (p.points?.length) {
        ep.pointCoords = transform.applyCoords(p.points, originalSize);
        ep.pointLabels = [...p.labels!];
      }
      if (p.box) ep.box = transform.applyBoxes([p.box], originalSize)[0];
      if (p.maskInput) ep.maskInput = p.maskInput;
      const { lowResMasks, iouPredictions } = await engine.decode(embeddings, ep, {
        multimask: p.multimask ?? false,
        ...(decode?.decoderDelta ? { decoderDelta: decode.decoderDelta } : {}),
      });
      // Logits and their binary masks in one pass (the same masks as thresholding the logits afterwards).
      const { masks, binary } = postprocessMasksAndBinary(
        lowResMasks,
        inputSize,
        originalSize,
        cfg.imgSize,
        cfg.maskThreshold,
      );
      const iou = Array.from(iouPredictions.data as Float32Array);
      const best = iou.reduce((bi, v, i) => (v > iou[bi] ? i : bi), 0);
      return { masks, binary, iouPredictions: iou, lowResMasks, best };
    },
    reset() {
      current = null;
    },
    dispose() {
      current = null;
      engine.dispose();
    },
  };
}
