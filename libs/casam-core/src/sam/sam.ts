import { tf } from './tf';
import { SamConfig } from './config';
import { ImageEncoder, createImageEncoder } from './image-encoder';
import { MaskDecoder, createMaskDecoder } from './mask-decoder';
import { ParamStore } from './params';
import { PromptEncoder, createPromptEncoder } from './prompt-encoder';
import { StateDict } from '../tensor/host-tensor';

/** The whole Segment Anything Model in TF.js. The top model is handed its parts ready-made. */
export interface Sam {
  readonly config: SamConfig;
  readonly imageEncoder: ImageEncoder;
  readonly promptEncoder: PromptEncoder;
  readonly maskDecoder: MaskDecoder;
  /** get_dense_pe(), computed once: NCHW [1,C,g,g]. Owned by the model. */
  readonly densePe: tf.Tensor4D;
  dispose(): void;
}

export interface SamParts {
  imageEncoder: ImageEncoder;
  promptEncoder: PromptEncoder;
  maskDecoder: MaskDecoder;
  /** Disposed with the model (owns the weight tensors). */
  params: ParamStore;
}

export function createSam(config: SamConfig, parts: SamParts): Sam {
  const densePe = tf.keep(parts.promptEncoder.denseEmbeddingPositional());
  let disposed = false;
  return {
    config,
    imageEncoder: parts.imageEncoder,
    promptEncoder: parts.promptEncoder,
    maskDecoder: parts.maskDecoder,
    densePe,
    dispose() {
      if (disposed) return;
      disposed = true;
      densePe.dispose();
      parts.imageEncoder.dispose();
      parts.params.dispose();
    },
  };
}

/**
 * Builds SAM from an official-named state dict. Validate the state dict first (weights/validate) — this
 * function trusts names and shapes.
 */
export function buildSam(config: SamConfig, sd: StateDict): Sam {
  const params = new ParamStore(sd);
  return createSam(config, {
    imageEncoder: createImageEncoder(config, params.scope('image_encoder')),
    promptEncoder: createPromptEncoder(config, params.scope('prompt_encoder')),
    maskDecoder: createMaskDecoder(config, params.scope('mask_decoder')),
    params,
  });
}
