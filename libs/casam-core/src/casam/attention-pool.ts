/**
 * The router's image feature: attention pooling of an embedding Z [B,C,H,W].
 *   s(h,w) = ‖Z[:,:,h,w]‖₂ / C,   a = softmax over all H·W positions of s/T,   f = Σ_hw a(h,w)·Z[:,:,h,w] → [B,C]
 * Z is the frozen encoder output (before any Alignment Layer).
 */
import { tf } from '../sam/tf';
import type { EmbeddingLayout } from './align-layer';

export interface AttentionPoolOptions {
  /** Layout of `z`. Default NCHW. */
  layout?: EmbeddingLayout;
  /** Softmax temperature T (default 1). */
  temperature?: number;
}

export interface AttentionPoolResult {
  /** Pooled feature [B,C]. */
  f: tf.Tensor2D;
  /** Per-position score ‖z‖₂/C, [B,H,W]. */
  s: tf.Tensor3D;
  /** Attention weights, [B,H,W], summing to 1 per image. */
  a: tf.Tensor3D;
}

export class AttentionPoolInputError extends Error {
  override name = 'AttentionPoolInputError';
}

function check(z: tf.Tensor, opts: AttentionPoolOptions): { layout: EmbeddingLayout; t: number } {
  const layout = opts.layout ?? 'NCHW';
  if (layout !== 'NCHW' && layout !== 'NHWC')
    throw new AttentionPoolInputError(`layout must be NCHW or NHWC, got ${String(layout)}`);
  if (z.rank !== 4)
    throw new AttentionPoolInputError(`embedding must be rank 4 (${layout}), got [${z.shape}]`);
  if (z.size === 0) throw new AttentionPoolInputError(`embedding [${z.shape}] is empty`);
  if (z.dtype !== 'float32') throw new AttentionPoolInputError(`embedding must be float32, got ${z.dtype}`);
  const t = opts.temperature ?? 1;
  if (!(t > 0) || !Number.isFinite(t))
    throw new AttentionPoolInputError(`temperature must be a positive finite number, got ${t}`);
  return { layout, t };
}

/** f, s and a. All three are new tensors owned by the caller. */
export function attentionPoolDetailed(z: tf.Tensor4D, opts: AttentionPoolOptions = {}): AttentionPoolResult {
  const { layout, t } = check(z, opts);
  return tf.tidy(() => {
    // Work as [B, HW, C] so the norm is over the last axis and the pooling is one batched matmul.
    const [b, h, w, c] = layout === 'NCHW' ? [z.shape[0], z.shape[2], z.shape[3], z.shape[1]] : z.shape;
    const zz = tf.reshape(layout === 'NCHW' ? tf.transpose(z, [0, 2, 3, 1]) : z, [b, h * w, c]);
    const s = tf.div(tf.sqrt(tf.sum(tf.square(zz), 2)), c) as tf.Tensor2D; // [B, HW]
    const a = tf.softmax(t === 1 ? s : tf.div(s, t)) as tf.Tensor2D;
    const f = tf.reshape(tf.matMul(tf.reshape(a, [b, 1, h * w]), zz), [b, c]) as tf.Tensor2D;
    return {
      f,
      s: tf.reshape(s, [b, h, w]) as tf.Tensor3D,
      a: tf.reshape(a, [b, h, w]) as tf.Tensor3D,
    };
  });
}

/** The pooled feature f [B,C] only. */
export function attentionPool(z: tf.Tensor4D, opts: AttentionPoolOptions = {}): tf.Tensor2D {
  return tf.tidy(() => attentionPoolDetailed(z, opts).f);
}
