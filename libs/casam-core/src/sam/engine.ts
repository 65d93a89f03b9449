import { HostTensor } from '../tensor/host-tensor';
import { SamConfig } from './config';
import type { DecoderDelta } from './decoder-delta';

/** Prompts in the model's input frame (after ResizeLongestSide), one image. */
export interface EnginePrompt {
  /** Points (x, y) in input-frame pixels. */
  pointCoords?: [number, number][];
  /** 1 = positive, 0 = negative, one per point. */
  pointLabels?: number[];
  /** Box (x0, y0, x1, y1) in input-frame pixels. */
  box?: [number, number, number, number];
  /** Low-res mask logits [1,1,4·grid,4·grid] (e.g. a previous low_res_masks output). */
  maskInput?: HostTensor;
}

export interface EngineDecodeOptions {
  /** true: mask tokens 1..3; false: token 0 (the official multimask_output flag). */
  multimask: boolean;
  /**
   * A task's change of the decoder's weights for this call (its LoRA delta). Only the TF.js engine applies one;
   * the ONNX Runtime engine refuses it rather than decode with the frozen decoder (no per-task decoder graphs yet).
   */
  decoderDelta?: DecoderDelta;
}

export interface EngineDecodeResult {
  /** [1,K,4·grid,4·grid] mask logits (K = 3 multimask, 1 single). */
  lowResMasks: HostTensor;
  /** [1,K] predicted IoU (no sigmoid). */
  iouPredictions: HostTensor;
}

/**
 * What both engines (TensorFlow.js and ONNX Runtime) provide. The expensive encoder and the light decoder are
 * separate so a predictor embeds once and answers many prompts.
 */
export interface SamEngine {
  readonly kind: 'tfjs' | 'onnx';
  readonly config: SamConfig;
  /** Preprocessed image NCHW [1,3,imgSize,imgSize] (normalised, zero-padded) → image embeddings NCHW [1,C,g,g]. */
  embed(preprocessed: HostTensor): Promise<HostTensor>;
  decode(
    embeddings: HostTensor,
    prompt: EnginePrompt,
    opts: EngineDecodeOptions,
  ): Promise<EngineDecodeResult>;
  dispose(): void;
}
