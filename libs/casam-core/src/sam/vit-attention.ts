import { tf } from './tf';
import { linear } from './layers';

type Linear = { w: tf.Tensor2D; b: tf.Tensor1D | null };

/**
 * Default cap on the number of attention-logit elements materialised at once. A vit_b global block has
 * 12 heads × 4096² logits (≈800 MB in float32); chunking over (batch·head) keeps the peak near 64 MB per
 * intermediate, which is what makes 1024 px feasible inside a 4 GB wasm heap.
 */
export const DEFAULT_MAX_LOGIT_ELEMENTS = 1 << 24;

export interface VitAttentionOptions {
  dim: number;
  numHeads: number;
  /** Token-map side S this attention runs on: the window size for windowed blocks, the grid for global ones. */
  size: number;
  qkv: Linear;
  proj: Linear;
  /** `rel_pos_h` / `rel_pos_w` tables [2S-1, head_dim]; omit both when the model has no relative positions. */
  relPosH?: tf.Tensor2D;
  relPosW?: tf.Tensor2D;
  maxLogitElements?: number;
  /**
   * Training: qkv / rel-pos are variables, so the q/k/v split and the transposed tables are derived inside
   * every forward (under the gradient tape) instead of once at build time, where they would be constants.
   */
  liveWeights?: boolean;
}

export interface VitAttention {
  /** x NHWC [B', S, S, dim] (a batch of windows, or whole maps) → same shape. */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** Frees the tensors this module derived from its weights (not the weights, which the ParamStore owns). */
  dispose(): void;
}

const onWasm = (): boolean => tf.getBackend() === 'wasm';

/**
 * Rows [start, start+count) of x along axis 0. The wasm Slice kernel copies the WHOLE input out of the heap
 * on every call, so there a gather (a native kernel that touches only the rows taken) is far cheaper.
 */
export function takeRows<T extends tf.Tensor>(x: T, start: number, count: number): T {
  if (!onWasm()) return tf.slice(x, start, count) as T;
  return tf.tidy(() => tf.gather(x, tf.range(start, start + count, 1, 'int32')) as T);
}

/**
 * Batched a·b for rank-3 tensors. On wasm this relies on the XNNPACK BatchMatMul that
 * registerWasmTrainingKernels installs (initBackend does it); the stock kernel is ~8× slower for batch > 1.
 */
function bmm(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(a, b);
}

/**
 * Row indices into a [S(q)·(2S−1), …] matrix picking, for each (q, k), table row q − k + S − 1 of query q's
 * block: the official get_rel_pos for equal query/key sizes, done as one gather.
 */
function relPosIndex(size: number): tf.Tensor1D {
  const len = 2 * size - 1;
  const idx = new Int32Array(size * size);
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++) idx[i * size + j] = i * len + (i - j + size - 1);
  return tf.tensor1d(idx, 'int32');
}

interface RelPos {
  /** Tables transposed to [head_dim, 2S−1]. */
  hT: tf.Tensor2D;
  wT: tf.Tensor2D;
  index: tf.Tensor1D;
}

/**
 * Decomposed relative-position bias for c (batch·head) rows, from the UNSCALED queries q [c, S, S, hd]:
 * rel_h[b,qh,qw,kh] = q·Rh[qh−kh+S−1] and rel_w[b,qh,qw,kw] = q·Rw[qw−kw+S−1]. Each is one 2-D matMul of q
 * against the whole table (2S−1 columns) followed by a gather of the needed diagonal, so no per-row loops and
 * no batched matMul. Returned as relH [c·S, S, S, 1] and relW [c·S, S, 1, S], ready to broadcast onto logits
 * viewed as [c·S(qh), S(qw), S(kh), S(kw)].
 */
function relPosTerms(q: tf.Tensor4D, rel: RelPos): { relH: tf.Tensor4D; relW: tf.Tensor4D } {
  const [c, s, , hd] = q.shape;
  const len = 2 * s - 1;
  const q2 = tf.reshape(q, [c * s * s, hd]);
  const fullH = tf.reshape(tf.matMul(q2, rel.hT), [c, s, s, len]); // [b, qh, qw, j]
  const byH = tf.reshape(tf.transpose(fullH, [1, 3, 0, 2]), [s * len, c * s]); // [(qh, j), (b, qw)]
  const gh = tf.reshape(tf.gather(byH, rel.index), [s, s, c, s]); // [qh, kh, b, qw]
  const relH = tf.reshape(tf.transpose(gh, [2, 0, 3, 1]), [c * s, s, s, 1]) as tf.Tensor4D;
  const fullW = tf.reshape(tf.matMul(q2, rel.wT), [c, s, s, len]); // [b, qh, qw, j]
  const byW = tf.reshape(tf.transpose(fullW, [2, 3, 0, 1]), [s * len, c * s]); // [(qw, j), (b, qh)]
  const gw = tf.reshape(tf.gather(byW, rel.index), [s, s, c, s]); // [qw, kw, b, qh]
  const relW = tf.reshape(tf.transpose(gw, [2, 3, 0, 1]), [c * s, s, 1, s]) as tf.Tensor4D;
  return { relH, relW };
}

/** The official segment_anything ImageEncoderViT `Attention` (qkv → heads → softmax(q·kᵀ·scale + rel) · v → proj). */
export function createVitAttention(opts: VitAttentionOptions): VitAttention {
  const { dim, numHeads, size, qkv, proj } = opts;
  if (dim % numHeads !== 0) throw new Error(`attention dim ${dim} is not divisible by ${numHeads} heads`);
  const hd = dim / numHeads;
  const scale = hd ** -0.5;
  const maxLogits = opts.maxLogitElements ?? DEFAULT_MAX_LOGIT_ELEMENTS;
  if ((opts.relPosH === undefined) !== (opts.relPosW === undefined))
    throw new Error('attention needs both rel_pos_h and rel_pos_w, or neither');
  // The official get_rel_pos interpolates tables of another length; official checkpoints never need that, so
  // a mismatch means a wrong checkpoint or config and is an error rather than a silent resample.
  for (const [label, t] of [
    ['rel_pos_h', opts.relPosH],
    ['rel_pos_w', opts.relPosW],
  ] as const) {
    if (!t) continue;
    if (t.shape[0] !== 2 * size - 1)
      throw new Error(
        `${label}: table has ${t.shape[0]} rows but a ${size}×${size} token map needs ${2 * size - 1}`,
      );
    if (t.shape[1] !== hd) throw new Error(`${label}: table width ${t.shape[1]} != head_dim ${hd}`);
  }

  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const relIndex = opts.relPosH && opts.relPosW ? keep(relPosIndex(size)) : null;

  interface Derived {
    projQ: Linear;
    projK: Linear;
    projV: Linear;
    rel: RelPos | null;
  }
  // q, k and v get their own weight slices so each projection lands directly in its head layout (k already
  // transposed for q·kᵀ): splitting a fused output, or matMul with transposeB, is slow on wasm.
  function derive(): Derived {
    const [wq, wk, wv] = tf.split(qkv.w, 3, 1) as tf.Tensor2D[];
    const [bq, bk, bv] = qkv.b ? (tf.split(qkv.b, 3, 0) as tf.Tensor1D[]) : [null, null, null];
    const rel: RelPos | null =
      opts.relPosH && opts.relPosW && relIndex
        ? { hT: tf.transpose(opts.relPosH), wT: tf.transpose(opts.relPosW), index: relIndex }
        : null;
    return { projQ: { w: wq, b: bq }, projK: { w: wk, b: bk }, projV: { w: wv, b: bv }, rel };
  }
  let fixed: Derived | null = null;
  if (!opts.liveWeights) {
    fixed = derive();
    const { projQ, projK, projV, rel } = fixed;
    for (const p of [projQ, projK, projV]) {
      keep(p.w);
      if (p.b) keep(p.b);
    }
    if (rel) {
      keep(rel.hT);
      keep(rel.wT);
    }
  }

  /** q [c, N, hd], kT [c, hd, N], v [c, N, hd] for c (batch·head) rows of an s×s map → [c, N, hd]. */
  function attendChunk(
    q: tf.Tensor3D,
    kT: tf.Tensor3D,
    v: tf.Tensor3D,
    s: number,
    rel: RelPos | null,
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const [c, n] = q.shape;
      let logits: tf.Tensor = bmm(tf.mul(q, scale) as tf.Tensor3D, kT); // [c, N, N]
      if (rel) {
        const { relH, relW } = relPosTerms(tf.reshape(q, [c, s, s, hd]), rel);
        // Same addition order as the official add_decomposed_rel_pos: (attn + rel_h) + rel_w.
        logits = tf.add(tf.add(tf.reshape(logits, [c * s, s, s, s]), relH), relW);
        logits = tf.reshape(logits, [c, n, n]);
      }
      return bmm(tf.softmax(logits) as tf.Tensor3D, v);
    });
  }

  function forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, e] = x.shape;
    if (e !== dim) throw new Error(`attention expects ${dim} channels, got ${e}`);
    if (opts.relPosH && (h !== size || w !== size))
      throw new Error(`attention with relative positions expects a ${size}×${size} token map, got ${h}×${w}`);
    return tf.tidy(() => {
      const { projQ, projK, projV, rel } = fixed ?? derive();
      const n = h * w;
      const bh = b * numHeads;
      // [B', N, E] per projection → heads: q, v [B'·heads, N, hd]; k [B'·heads, hd, N].
      const heads = (p: Linear, perm: number[], shape: [number, number, number]): tf.Tensor3D =>
        tf.reshape(tf.transpose(tf.reshape(linear(x, p), [b, n, numHeads, hd]), perm), shape) as tf.Tensor3D;
      const q = heads(projQ, [0, 2, 1, 3], [bh, n, hd]);
      const kT = heads(projK, [0, 2, 3, 1], [bh, hd, n]);
      const v = heads(projV, [0, 2, 1, 3], [bh, n, hd]);

      const chunk = Math.max(1, Math.floor(maxLogits / (n * n)));
      let out: tf.Tensor3D;
      if (chunk >= bh) out = attendChunk(q, kT, v, h, rel);
      else {
        const parts: tf.Tensor3D[] = [];
        for (let i = 0; i < bh; i += chunk) {
          const c = Math.min(chunk, bh - i);
          parts.push(
            tf.tidy(() => attendChunk(takeRows(q, i, c), takeRows(kT, i, c), takeRows(v, i, c), h, rel)),
          );
        }
        out = tf.concat(parts, 0);
      }
      // [B'·heads, N, hd] → [B', N, heads·hd] → proj.
      const merged = tf.reshape(tf.transpose(tf.reshape(out, [b, numHeads, n, hd]), [0, 2, 1, 3]), [
        b,
        h,
        w,
        dim,
      ]);
      return linear(merged, proj) as tf.Tensor4D;
    });
  }

  return {
    forward,
    dispose() {
      for (const t of owned) t.dispose();
      owned.length = 0;
    },
  };
}
