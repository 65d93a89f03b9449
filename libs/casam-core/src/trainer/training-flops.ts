/**
 * Analytic compute of an Alignment Layer training step, in multiply-accumulates (MACs; 1 MAC = 2 FLOPs), counted
 * over convolutions and matrix products (normalisations, activations, softmax and the loss are left out: a few
 * percent at these sizes).
 *
 *   AL forward   per image: 3 blocks × 2 conv3x3 (C→C) on g×g, plus the ECA conv1d
 *   AL backward  2 × forward (gradients w.r.t. inputs and weights)
 *   decoder      per prompt: two-way transformer (self-attention, token→image and image→token attention at
 *                C / downsample, MLP), final token→image attention, output upscaling (2 transposed convs),
 *                hypernetwork MLPs and mask product for all K mask tokens, IoU head
 *   decoder bwd  frozen: products with a weight need only the gradient w.r.t. their input (1 × forward);
 *                products of two activations (attention logits, attention × values, the mask product) need
 *                both (2 × forward)
 */
import { SamConfig, gridSize } from '../sam/config';
import { ecaKernelSize } from '../casam/casam-shapes';

export interface DecoderMacs {
  /** Products with a (frozen) weight. */
  weight: number;
  /** Products of two activations. */
  activation: number;
  total: number;
}

/** MACs of one Alignment Layer forward pass on one C×g×g embedding. */
export function alignmentLayerMacs(channels: number, grid: number): number {
  const convs = 3 * 2 * 9 * channels * channels * grid * grid;
  const eca = 3 * ecaKernelSize(channels) * channels;
  return convs + eca;
}

/**
 * MACs of one mask-decoder pass for one prompt with `sparseTokens` prompt tokens (a box: 2; k points without a
 * box: k + 1, the padding point), making the masks of `maskTokens` mask tokens (default all; the decoder's
 * single-mask forward, which training uses, makes one: maskDecoder.forward).
 */
export function maskDecoderMacs(cfg: SamConfig, sparseTokens = 2, maskTokens?: number): DecoderMacs {
  const c = cfg.promptEmbedDim;
  const n = gridSize(cfg) ** 2;
  const ci = c / cfg.decoderAttentionDownsampleRate;
  const k = cfg.numMultimaskOutputs + 1;
  const made = maskTokens ?? k;
  const t = 1 + k + sparseTokens;
  const m = cfg.decoderTransformerMlpDim;
  let weight = 0;
  let activation = 0;
  const attention = (nq: number, nk: number, inner: number): void => {
    weight += nq * c * inner + 2 * nk * c * inner + nq * inner * c; // q, k, v, out projections
    activation += 2 * nq * nk * inner; // q·kᵀ and softmax·v
  };
  for (let i = 0; i < cfg.decoderTransformerDepth; i++) {
    attention(t, t, c);
    attention(t, n, ci);
    weight += 2 * t * c * m;
    attention(n, t, ci);
  }
  attention(t, n, ci);
  weight += n * c * c + 4 * n * (c / 4) * (c / 2); // output upscaling: ConvT C→C/4, ConvT C/4→C/8 (2×2, stride 2)
  weight += made * (2 * c * c + (c * c) / 8); // hypernetwork MLPs of the masks made
  activation += made * 16 * n * (c / 8); // hyper_in · upscaled embedding
  const hd = cfg.iouHeadHiddenDim;
  weight += c * hd + (cfg.iouHeadDepth - 2) * hd * hd + hd * k;
  return { weight, activation, total: weight + activation };
}

export interface AlStepFlops {
  alForward: number;
  alBackward: number;
  decoderForward: number;
  decoderBackward: number;
  total: number;
}

/** FLOPs (2 × MACs) of one training step: `images` AL passes and `prompts` decoder passes. */
export function alTrainingStepFlops(
  cfg: SamConfig,
  step: { images: number; prompts: number; sparseTokens?: number },
): AlStepFlops {
  const al = alignmentLayerMacs(cfg.outChans, gridSize(cfg)) * step.images;
  const dec = maskDecoderMacs(cfg, step.sparseTokens ?? 2, 1); // training decodes single masks
  const alForward = 2 * al;
  const alBackward = 2 * alForward;
  const decoderForward = 2 * dec.total * step.prompts;
  const decoderBackward = 2 * (dec.weight + 2 * dec.activation) * step.prompts;
  return {
    alForward,
    alBackward,
    decoderForward,
    decoderBackward,
    total: alForward + alBackward + decoderForward + decoderBackward,
  };
}
