import { tf } from './tf';
import { SamConfig } from './config';
import { ParamStore } from './params';
import { layerNorm, linear } from './layers';
import { DecoderDelta, NamedLinear, effectiveLinear } from './decoder-delta';

/** Receives named intermediates (in the fixture's layout) for parity tests; never needed in production. */
export type DecoderTap = (name: string, t: tf.Tensor) => void;

type Linear = NamedLinear;
type Norm = { w: tf.Tensor1D; b: tf.Tensor1D };

interface AttentionParams {
  q: Linear;
  k: Linear;
  v: Linear;
  out: Linear;
  numHeads: number;
}

interface BlockParams {
  selfAttn: AttentionParams;
  norm1: Norm;
  tokenToImage: AttentionParams;
  norm2: Norm;
  lin1: { w: tf.Tensor2D; b: tf.Tensor1D | null };
  lin2: { w: tf.Tensor2D; b: tf.Tensor1D | null };
  norm3: Norm;
  norm4: Norm;
  imageToToken: AttentionParams;
  skipFirstLayerPe: boolean;
}

export interface TwoWayTransformer {
  /**
   * image [B,HW,C] (token index h·W+w), imagePe [B or 1,HW,C], points [B,N,C] →
   * { queries [B,N,C] (hs), keys [B,HW,C] }. Called inside the caller's tidy. `delta` changes the attention
   * projections' weights for this call (names `transformer.…`, relative to `mask_decoder`).
   */
  forward(
    image: tf.Tensor3D,
    imagePe: tf.Tensor3D,
    points: tf.Tensor3D,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): { queries: tf.Tensor3D; keys: tf.Tensor3D };
}

/** `fullName`: the attention's name relative to `mask_decoder` (how a DecoderDelta names its layers). */
function attentionParams(p: ParamStore, name: string, numHeads: number, fullName: string): AttentionParams {
  const s = p.scope(name);
  const lin = (k: string): Linear => ({ name: `${fullName}.${k}`, ...s.linear(k) });
  return { q: lin('q_proj'), k: lin('k_proj'), v: lin('v_proj'), out: lin('out_proj'), numHeads };
}

/**
 * The official decoder Attention: project (to dim / downsample_rate, implied by the weights), split heads of
 * consecutive channels, softmax(q·kᵀ / sqrt(head_dim))·v, recombine, out_proj.
 */
function attention(
  a: AttentionParams,
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  delta: DecoderDelta | undefined,
): tf.Tensor3D {
  const internal = a.q.w.shape[1];
  const h = a.numHeads;
  if (internal % h !== 0) throw new Error(`attention dim ${internal} is not divisible by ${h} heads`);
  const d = internal / h;
  const heads = (x: tf.Tensor): tf.Tensor4D => {
    const [b, n] = x.shape;
    return tf.transpose(tf.reshape(x, [b, n, h, d]), [0, 2, 1, 3]) as tf.Tensor4D;
  };
  const qh = heads(linear(q, effectiveLinear(a.q, delta)));
  const kh = heads(linear(k, effectiveLinear(a.k, delta)));
  const vh = heads(linear(v, effectiveLinear(a.v, delta)));
  const logits = tf.div(tf.matMul(qh, kh, false, true), Math.sqrt(d));
  const o = tf.matMul(tf.softmax(logits, -1), vh); // [B,h,Nq,d]
  const [b, , nq] = o.shape;
  const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, nq, internal]);
  return linear(merged, effectiveLinear(a.out, delta)) as tf.Tensor3D;
}

function block(
  p: BlockParams,
  queriesIn: tf.Tensor3D,
  keysIn: tf.Tensor3D,
  queryPe: tf.Tensor3D,
  keyPe: tf.Tensor3D,
  eps: number,
  delta: DecoderDelta | undefined,
): { queries: tf.Tensor3D; keys: tf.Tensor3D } {
  let queries: tf.Tensor = queriesIn;
  let keys: tf.Tensor = keysIn;
  // Self-attention; the first layer replaces the queries (no residual, no PE), as the official block does.
  if (p.skipFirstLayerPe) queries = attention(p.selfAttn, queriesIn, queriesIn, queriesIn, delta);
  else {
    const q = tf.add(queries, queryPe) as tf.Tensor3D;
    queries = tf.add(queries, attention(p.selfAttn, q, q, queries as tf.Tensor3D, delta));
  }
  queries = layerNorm(queries, p.norm1, eps);

  // Tokens attend to the image.
  let q = tf.add(queries, queryPe) as tf.Tensor3D;
  let k = tf.add(keys, keyPe) as tf.Tensor3D;
  queries = tf.add(queries, attention(p.tokenToImage, q, k, keys as tf.Tensor3D, delta));
  queries = layerNorm(queries, p.norm2, eps);

  // MLP (ReLU).
  queries = tf.add(queries, linear(tf.relu(linear(queries, p.lin1)), p.lin2));
  queries = layerNorm(queries, p.norm3, eps);

  // The image attends to the tokens.
  q = tf.add(queries, queryPe) as tf.Tensor3D;
  k = tf.add(keys, keyPe) as tf.Tensor3D;
  keys = tf.add(keys, attention(p.imageToToken, k, q, queries as tf.Tensor3D, delta));
  keys = layerNorm(keys, p.norm4, eps);
  return { queries: queries as tf.Tensor3D, keys: keys as tf.Tensor3D };
}

/**
 * The official TwoWayTransformer. `params` is the `mask_decoder.transformer` scope. Self-attention uses the
 * full width; the cross-attentions use width / attention_downsample_rate (the weights carry it).
 */
export function createTwoWayTransformer(cfg: SamConfig, params: ParamStore): TwoWayTransformer {
  const heads = cfg.decoderTransformerNumHeads;
  const eps = cfg.decoderLayerNormEps;
  const layers: BlockParams[] = [];
  for (let i = 0; i < cfg.decoderTransformerDepth; i++) {
    const s = params.scope(`layers.${i}`);
    const full = (n: string): string => `transformer.layers.${i}.${n}`;
    layers.push({
      selfAttn: attentionParams(s, 'self_attn', heads, full('self_attn')),
      norm1: s.norm('norm1'),
      tokenToImage: attentionParams(s, 'cross_attn_token_to_image', heads, full('cross_attn_token_to_image')),
      norm2: s.norm('norm2'),
      lin1: s.linear('mlp.lin1'),
      lin2: s.linear('mlp.lin2'),
      norm3: s.norm('norm3'),
      norm4: s.norm('norm4'),
      imageToToken: attentionParams(s, 'cross_attn_image_to_token', heads, full('cross_attn_image_to_token')),
      skipFirstLayerPe: i === 0,
    });
  }
  const finalAttn = attentionParams(
    params,
    'final_attn_token_to_image',
    heads,
    'transformer.final_attn_token_to_image',
  );
  const normFinal = params.norm('norm_final_attn');
  const expected = cfg.promptEmbedDim / cfg.decoderAttentionDownsampleRate;
  if (finalAttn.q.w.shape[1] !== expected)
    throw new Error(
      `final_attn_token_to_image width ${finalAttn.q.w.shape[1]} != ${expected} (downsample rate)`,
    );

  function forward(
    image: tf.Tensor3D,
    imagePe: tf.Tensor3D,
    points: tf.Tensor3D,
    tap?: DecoderTap,
    delta?: DecoderDelta,
  ): { queries: tf.Tensor3D; keys: tf.Tensor3D } {
    let queries = points;
    let keys = image;
    layers.forEach((l, i) => {
      ({ queries, keys } = block(l, queries, keys, points, imagePe, eps, delta));
      if (tap) {
        tap(`transformer.layer${i}.queries`, queries);
        tap(`transformer.layer${i}.keys`, keys);
      }
    });
    const q = tf.add(queries, points) as tf.Tensor3D;
    const k = tf.add(keys, imagePe) as tf.Tensor3D;
    const out = layerNorm(
      tf.add(queries, attention(finalAttn, q, k, keys, delta)),
      normFinal,
      eps,
    ) as tf.Tensor3D;
    if (tap) {
      tap('transformer.hs', out);
      tap('transformer.src', keys);
    }
    return { queries: out, keys };
  }

  return { forward };
}
