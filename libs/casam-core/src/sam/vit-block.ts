import { tf } from './tf';
import { gelu, layerNorm, linear } from './layers';
import { ParamStore } from './params';
import { createVitAttention, VitAttention } from './vit-attention';

/**
 * Receives intermediate tensors during a forward pass. The tensor is freed when the forward's tidy ends, so
 * read it synchronously (dataSync) or tf.keep/clone it.
 */
export type CaptureFn = (name: string, t: tf.Tensor) => void;

/**
 * Zero-pads x [B,H,W,C] on the bottom/right to multiples of ws and cuts it into windows [B·nH·nW, ws, ws, C]
 * (row-major over the window grid, like the official window_partition). Padded tokens stay plain zeros.
 */
export function windowPartition(
  x: tf.Tensor4D,
  ws: number,
): { windows: tf.Tensor4D; hp: number; wp: number } {
  const [b, h, w, c] = x.shape;
  const ph = (ws - (h % ws)) % ws;
  const pw = (ws - (w % ws)) % ws;
  const hp = h + ph;
  const wp = w + pw;
  const windows = tf.tidy(() => {
    const padded =
      ph > 0 || pw > 0
        ? tf.pad(x, [
            [0, 0],
            [0, ph],
            [0, pw],
            [0, 0],
          ])
        : x;
    // Kept at rank 4 (the wasm transpose is fastest there): [B·nH, ws, nW, ws·C] → [B·nH, nW, ws, ws·C].
    const t = tf.transpose(tf.reshape(padded, [(b * hp) / ws, ws, wp / ws, ws * c]), [0, 2, 1, 3]);
    return tf.reshape(t, [(b * hp * wp) / (ws * ws), ws, ws, c]) as tf.Tensor4D;
  });
  return { windows, hp, wp };
}

/** Inverse of windowPartition, cropping the padding away: → [B, h, w, C]. */
export function windowUnpartition(
  windows: tf.Tensor4D,
  ws: number,
  padded: { hp: number; wp: number },
  size: { h: number; w: number },
): tf.Tensor4D {
  const { hp, wp } = padded;
  const c = windows.shape[3];
  const b = windows.shape[0] / ((hp / ws) * (wp / ws));
  return tf.tidy(() => {
    const t = tf.transpose(tf.reshape(windows, [(b * hp) / ws, wp / ws, ws, ws * c]), [0, 2, 1, 3]);
    const full = tf.reshape(t, [b, hp, wp, c]) as tf.Tensor4D;
    return size.h === hp && size.w === wp ? full : tf.slice(full, [0, 0, 0, 0], [b, size.h, size.w, c]);
  });
}

export interface VitBlockOptions {
  dim: number;
  numHeads: number;
  /** Window side; 0 = global attention over the whole grid. */
  windowSize: number;
  /** Token-grid side (global blocks attend over grid × grid). */
  grid: number;
  useRelPos: boolean;
  layerNormEps: number;
  maxLogitElements?: number;
}

export interface VitBlock {
  /** x NHWC [B, grid, grid, dim] → same shape. Captures `<prefix>.norm1/.attn/.norm2/.mlp` and `<prefix>`. */
  forward(x: tf.Tensor4D, capture?: CaptureFn, prefix?: string): tf.Tensor4D;
  dispose(): void;
}

/** One official ViT `Block`: x + attn(norm1(x)) [windowed or global], then + mlp(norm2(·)). */
export function createVitBlock(opts: VitBlockOptions, params: ParamStore): VitBlock {
  const { windowSize: ws, layerNormEps: eps } = opts;
  // Fetch every weight now so a forward never allocates long-lived tensors (keeps forwards leak-free).
  const norm1 = params.norm('norm1');
  const norm2 = params.norm('norm2');
  const lin1 = params.linear('mlp.lin1');
  const lin2 = params.linear('mlp.lin2');
  const attn: VitAttention = createVitAttention({
    dim: opts.dim,
    numHeads: opts.numHeads,
    size: ws > 0 ? ws : opts.grid,
    qkv: params.linear('attn.qkv'),
    proj: params.linear('attn.proj'),
    relPosH: opts.useRelPos ? (params.raw('attn.rel_pos_h') as tf.Tensor2D) : undefined,
    relPosW: opts.useRelPos ? (params.raw('attn.rel_pos_w') as tf.Tensor2D) : undefined,
    maxLogitElements: opts.maxLogitElements,
    liveWeights: params.isTrainable,
  });

  function forward(x: tf.Tensor4D, capture?: CaptureFn, prefix = 'block'): tf.Tensor4D {
    return tf.tidy(() => {
      const [, h, w] = x.shape;
      const n1 = layerNorm(x, norm1, eps) as tf.Tensor4D;
      capture?.(`${prefix}.norm1`, n1);
      let a: tf.Tensor4D;
      if (ws > 0) {
        const { windows, hp, wp } = windowPartition(n1, ws);
        const aw = attn.forward(windows);
        capture?.(`${prefix}.attn`, aw);
        a = windowUnpartition(aw, ws, { hp, wp }, { h, w });
      } else {
        a = attn.forward(n1);
        capture?.(`${prefix}.attn`, a);
      }
      const x1 = tf.add(x, a);
      const n2 = layerNorm(x1, norm2, eps);
      capture?.(`${prefix}.norm2`, n2);
      const m = linear(gelu(linear(n2, lin1)), lin2);
      capture?.(`${prefix}.mlp`, m);
      const out = tf.add(x1, m) as tf.Tensor4D;
      capture?.(prefix, out);
      return out;
    });
  }

  return { forward, dispose: () => attn.dispose() };
}
