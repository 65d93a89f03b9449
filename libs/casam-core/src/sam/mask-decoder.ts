import { tf } from './tf';
import { SamConfig, gridSize } from './config';
import { ParamStore } from './params';
import { gelu, layerNorm, linear, nchwToNhwc, nhwcToNchw } from './layers';
import { broadcastParam } from './prompt-encoder';
import { DecoderTap, TwoWayTransformer, createTwoWayTransformer } from './two-way-transformer';
import { DecoderDelta, NamedLinear, effectiveLinear } from './decoder-delta';

export type { DecoderTap } from './two-way-transformer';
export type { DecoderDelta } from './decoder-delta';

export interface MaskDecoderOutput {
  /** Mask logits NCHW [B,K,4g,4g] (K = 4 from predictMasks, 3 multimask, 1 single). */
  masks: tf.Tensor4D;
  /** Predicted IoU [B,K] (no sigmoid). */
  iou: tf.Tensor2D;
}

export interface MaskDecoder {
  /** num_multimask_outputs + 1. */
  readonly numMaskTokens: number;
  readonly transformer: TwoWayTransformer;
  /**
   * The official predict_masks: all mask tokens. imageEmbeddings NCHW [E,C,g,g], imagePe NCHW [1,C,g,g],
   * sparse [B,T,C], dense NCHW [B,C,g,g]. E = B pairs image i with prompt i; E dividing B repeats each image
   * B/E times in a row (the official repeat_interleave, e.g. E = 1 for B prompts on one image).
   * Differentiable w.r.t. every input; the caller owns the result. `delta` changes some Linear weights for this
   * call only (a task's decoder adapter; the attention projections and hypernetwork MLPs): differentiable
   * w.r.t. whatever it computes the weights from, the frozen weights untouched.
   */
  predictMasks(
    imageEmbeddings: tf.Tensor4D,
    imagePe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): MaskDecoderOutput;
  /** The official forward: multimask → tokens 1..K−1, otherwise token 0. */
  forward(
    imageEmbeddings: tf.Tensor4D,
    imagePe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    multimask: boolean,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): MaskDecoderOutput;
}

const TOKEN_KEY = 'iou_token.weight';

/** Accepts either the `mask_decoder` scope or a whole-model store. */
function scoped(params: ParamStore): ParamStore {
  if (params.has(TOKEN_KEY)) return params;
  const inner = params.scope('mask_decoder');
  if (inner.has(TOKEN_KEY)) return inner;
  throw new Error(`mask decoder weights not found (expected ${TOKEN_KEY})`);
}

/** The official MLP head: Linear layers with ReLU between them (no sigmoid anywhere in SAM's use). */
function mlp(layers: NamedLinear[], x: tf.Tensor, delta?: DecoderDelta): tf.Tensor {
  let y = x;
  layers.forEach((l, i) => {
    y = linear(y, effectiveLinear(l, delta));
    if (i < layers.length - 1) y = tf.relu(y);
  });
  return y;
}

/**
 * ConvTranspose2d with kernel 2, stride 2, no padding, NHWC. The 2×2 output blocks do not overlap, so it is
 * one matMul to [.., 2·2·out] and an interleave; this keeps to ops with gradients on every backend.
 * `w` is the ParamStore layout [kh,kw,out,in].
 */
function convTranspose2x2(x: tf.Tensor4D, p: { w: tf.Tensor4D; b: tf.Tensor1D | null }): tf.Tensor4D {
  const [b, h, w, cin] = x.shape;
  const [kh, kw, cout, wIn] = p.w.shape;
  if (kh !== 2 || kw !== 2 || wIn !== cin)
    throw new Error(`convTranspose2x2: weight [${p.w.shape}] for input C=${cin}`);
  const wm = tf.reshape(tf.transpose(p.w, [3, 0, 1, 2]), [cin, 4 * cout]); // [in, (di, dj, out)]
  const y = tf.reshape(tf.matMul(tf.reshape(x, [b * h * w, cin]), wm), [b * h, w, 2, 2 * cout]);
  // [b·h, w, di, (dj,out)] → [b·h, di, w, (dj,out)] = rows 2i+di, columns 2j+dj.
  let out: tf.Tensor = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b, 2 * h, 2 * w, cout]);
  if (p.b) out = tf.add(out, p.b);
  return out as tf.Tensor4D;
}

/**
 * The official SAM MaskDecoder (two-way transformer, output upscaling, hypernetwork MLPs, IoU head).
 * `params` is the `mask_decoder` scope (a whole-model store also works). Decoder weights are owned by the
 * ParamStore (constants, or variables in its training mode); gradients flow to the image embeddings, the
 * prompt embeddings and, in training mode, the weights.
 */
export function createMaskDecoder(cfg: SamConfig, params: ParamStore): MaskDecoder {
  const p = scoped(params);
  const c = cfg.promptEmbedDim;
  const g = gridSize(cfg);
  const numMaskTokens = cfg.numMultimaskOutputs + 1;
  const transformer = createTwoWayTransformer(cfg, p.scope('transformer'));
  const iouToken = p.raw('iou_token.weight') as tf.Tensor2D; // [1,C]
  const maskTokens = p.raw('mask_tokens.weight') as tf.Tensor2D; // [K,C]
  if (maskTokens.shape[0] !== numMaskTokens)
    throw new Error(`mask_tokens has ${maskTokens.shape[0]} rows, config expects ${numMaskTokens}`);
  const up0 = p.convTranspose2d('output_upscaling.0');
  const up1 = p.norm('output_upscaling.1');
  const up3 = p.convTranspose2d('output_upscaling.3');
  const named = (name: string): NamedLinear => ({ name, ...p.linear(name) });
  const hyper: NamedLinear[][] = [];
  for (let i = 0; i < numMaskTokens; i++) {
    const layers: NamedLinear[] = [];
    for (let j = 0; j < 3; j++) layers.push(named(`output_hypernetworks_mlps.${i}.layers.${j}`));
    hyper.push(layers);
  }
  const iouHead: NamedLinear[] = [];
  for (let j = 0; j < cfg.iouHeadDepth; j++) iouHead.push(named(`iou_prediction_head.layers.${j}`));

  function checkInputs(emb: tf.Tensor4D, pe: tf.Tensor4D, sparse: tf.Tensor3D, dense: tf.Tensor4D): void {
    const [e, ec, eh, ew] = emb.shape;
    const b = sparse.shape[0];
    if (ec !== c || eh !== g || ew !== g)
      throw new Error(`image embeddings must be [E,${c},${g},${g}], got [${emb.shape}]`);
    if (b % e !== 0) throw new Error(`${b} prompts cannot share ${e} images (need B = E·k)`);
    if (pe.shape[0] !== 1 || pe.shape[1] !== c || pe.shape[2] !== g || pe.shape[3] !== g)
      throw new Error(`image PE must be [1,${c},${g},${g}], got [${pe.shape}]`);
    if (sparse.shape[2] !== c) throw new Error(`sparse embeddings must be [B,T,${c}], got [${sparse.shape}]`);
    const db = dense.shape[0];
    if ((db !== b && db !== 1) || dense.shape[1] !== c || dense.shape[2] !== g || dense.shape[3] !== g)
      throw new Error(`dense embeddings must be [${b},${c},${g},${g}], got [${dense.shape}]`);
  }

  function predictMasks(
    imageEmbeddings: tf.Tensor4D,
    imagePe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): MaskDecoderOutput {
    return predictTokens(imageEmbeddings, imagePe, sparse, dense, 0, numMaskTokens, tap, delta);
  }

  /**
   * predict_masks for the mask tokens [first, first + count) only: their masks and IoU predictions. The
   * hypernetwork MLPs of the other tokens are not run and their masks not made (the mask of one token does
   * not depend on another's), which saves training, where only token 0 is used, 3/4 of the mask product and
   * its slice, forward and backward (bench/continual's casam-small step: ~130 of ~3200 ms).
   */
  function predictTokens(
    imageEmbeddings: tf.Tensor4D,
    imagePe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    first: number,
    count: number,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): MaskDecoderOutput {
    checkInputs(imageEmbeddings, imagePe, sparse, dense);
    return tf.tidy(() => {
      const b = sparse.shape[0];
      const e = imageEmbeddings.shape[0];
      const outputTokens = tf.concat([iouToken, maskTokens], 0); // [1 + K, C]: IoU token first
      const tokens = tf.concat(
        [broadcastParam(tf.expandDims(outputTokens, 0), [b, numMaskTokens + 1, c]), sparse],
        1,
      ) as tf.Tensor3D;
      if (tap) tap('tokens', tokens);

      // repeat_interleave over the batch: image i serves prompts i·r .. i·r + r − 1.
      let emb: tf.Tensor4D = nchwToNhwc(imageEmbeddings);
      if (e !== b) {
        const r = b / e;
        emb = tf.reshape(tf.tile(tf.expandDims(emb, 1), [1, r, 1, 1, 1]), [b, g, g, c]);
      }
      const src = tf.add(emb, nchwToNhwc(dense)) as tf.Tensor4D;
      if (tap) tap('src_in', nhwcToNchw(src));

      const image = tf.reshape(src, [b, g * g, c]) as tf.Tensor3D;
      const pos = tf.reshape(nchwToNhwc(imagePe), [1, g * g, c]) as tf.Tensor3D;
      const { queries: hs, keys } = transformer.forward(image, pos, tokens, tap, delta);
      const iouTokenOut = tf.squeeze(tf.slice(hs, [0, 0, 0], [b, 1, c]), [1]);
      const maskTokensOut = tf.slice(hs, [0, 1, 0], [b, numMaskTokens, c]);

      // Output upscaling: ConvT → LN2d → GELU → ConvT → GELU, NHWC.
      let up: tf.Tensor4D = convTranspose2x2(tf.reshape(keys, [b, g, g, c]), up0);
      up = gelu(layerNorm(up, up1, cfg.layerNorm2dEps)) as tf.Tensor4D;
      up = gelu(convTranspose2x2(up, up3)) as tf.Tensor4D;
      if (tap) tap('upscaled_embedding', nhwcToNchw(up));
      const [, uh, uw, uc] = up.shape;

      const perToken = tf.unstack(maskTokensOut, 1).slice(first, first + count); // count × [B,C]
      const hyperIn = tf.stack(
        perToken.map((t, i) => mlp(hyper[first + i], t, delta)),
        1,
      ) as tf.Tensor3D; // [B,count,C/8]
      if (tap) tap('hyper_in', hyperIn);
      const masks = tf.reshape(tf.matMul(hyperIn, tf.reshape(up, [b, uh * uw, uc]), false, true), [
        b,
        count,
        uh,
        uw,
      ]) as tf.Tensor4D;
      const iouAll = mlp(iouHead, iouTokenOut, delta) as tf.Tensor2D;
      const iou =
        count === numMaskTokens ? iouAll : (tf.slice(iouAll, [0, first], [b, count]) as tf.Tensor2D);
      return { masks, iou };
    });
  }

  function forward(
    imageEmbeddings: tf.Tensor4D,
    imagePe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    multimask: boolean,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): MaskDecoderOutput {
    return multimask
      ? predictTokens(imageEmbeddings, imagePe, sparse, dense, 1, numMaskTokens - 1, tap, delta)
      : predictTokens(imageEmbeddings, imagePe, sparse, dense, 0, 1, tap, delta);
  }

  return { numMaskTokens, transformer, predictMasks, forward };
}
