import { tf } from './tf';

/** y = x·W + b over the last axis, W already [in,out]. */
export function linear(x: tf.Tensor, p: { w: tf.Tensor2D; b: tf.Tensor1D | null }): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, inDim]), p.w);
  if (p.b) y = tf.add(y, p.b);
  return tf.reshape(y, [...lead, p.w.shape[1]]);
}

/** LayerNorm over the last axis with biased variance (PyTorch semantics). Also LayerNorm2d in NHWC. */
export function layerNorm(x: tf.Tensor, p: { w: tf.Tensor1D; b: tf.Tensor1D }, eps: number): tf.Tensor {
  const axis = x.shape.length - 1;
  const mean = tf.mean(x, axis, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), axis, true);
  return tf.add(tf.mul(tf.div(xc, tf.sqrt(tf.add(variance, eps))), p.w), p.b);
}

/** Exact (erf) GELU, as nn.GELU() defaults to. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** NHWC conv with PyTorch-style symmetric integer padding. */
export function conv2d(
  x: tf.Tensor4D,
  p: { w: tf.Tensor4D; b: tf.Tensor1D | null },
  stride: number,
  pad: number,
): tf.Tensor4D {
  const padding =
    pad === 0
      ? 'valid'
      : ([
          [0, 0],
          [pad, pad],
          [pad, pad],
          [0, 0],
        ] as [[number, number], [number, number], [number, number], [number, number]]);
  let y = tf.conv2d(x, p.w, stride, padding);
  if (p.b) y = tf.add(y, p.b);
  return y;
}

export function nchwToNhwc<T extends tf.Tensor>(x: T): T {
  return tf.transpose(x, [0, 2, 3, 1]) as T;
}
export function nhwcToNchw<T extends tf.Tensor>(x: T): T {
  return tf.transpose(x, [0, 3, 1, 2]) as T;
}
