/**
 * The SAM image encoder (official `ImageEncoderViT`) as an ONNX graph, built from official-named weights.
 *
 *   image [1,3,S,S] (preprocessed) → patch embedding (Gemm on the patches, + bias + pos_embed) → ViT blocks
 *   (windowed or global attention with decomposed relative positions) → neck (1×1 conv, LN2d, 3×3 conv, LN2d)
 *   → image_embeddings [1,C,g,g]
 *
 * Same input and output names and shapes as `torch.onnx.export(sam.image_encoder)`, so the file drops into
 * `createOnnxSamEngine` in place of an official export. Between the patch embedding and the neck the tokens run
 * as 2-D rows [g·g, E] (the official NHWC order, without the batch and grid axes), so LayerNormalization
 * normalises the last axis and every linear layer is one plain Gemm (exporter 3: fewer, cheaper nodes on ONNX
 * Runtime for the small presets; casam-tiny 201 → 152 nodes after ORT's optimisation).
 *
 * Plain opset-17 operators throughout, except one: a global block whose rel-pos tables are too wide for the
 * logits MatMul and whose logits are moderate (casam-small) runs as ONNX Runtime's com.microsoft
 * MultiHeadAttention (exporter 4), which runs on ONNX Runtime's CPU provider, the only engine these files are for.
 *
 * All shapes are static (batch 1, one preset): ONNX Runtime then plans every buffer at load time.
 */
import { SamConfig, gridSize } from '../../sam/config';
import { StateDict } from '../../tensor/host-tensor';
import { validateStateDict } from '../../weights/validate';
import {
  GraphBuilder,
  ModelOptions,
  OnnxExportError,
  SerializeOptions,
  MS_DOMAIN,
  attrFloat,
  attrInt,
  SerializedModel,
} from './onnx-builder';
import { ExportWeights, transpose2d } from './weights';

export const ENCODER_INPUT_NAME = 'image';
export const ENCODER_OUTPUT_NAME = 'image_embeddings';

/**
 * A decomposed rel-pos table [2S−1, hd] expanded to the per-(query, key) rows the attention needs, laid out
 * for a batched MatMul over the query coordinate: out[q, c, k] = table[q − k + S − 1, c], i.e. [S, hd, S].
 * (The official get_rel_pos gathers these rows at run time; the weights are fixed here, so it is a constant.)
 */
export function expandRelPos(table: Float32Array, size: number, hd: number): Float32Array {
  const out = new Float32Array(size * hd * size);
  for (let q = 0; q < size; q++)
    for (let k = 0; k < size; k++) {
      const row = (q - k + size - 1) * hd;
      for (let c = 0; c < hd; c++) out[(q * hd + c) * size + k] = table[row + c];
    }
  return out;
}

/**
 * Which key each column of the augmented attention operand selects: [n, 1, 2S] with row k = (kh, kw) holding
 * one-hot(kh) in columns [0, S) and one-hot(kw) in [S, 2S), so [rel_h | rel_w]·selᵀ adds rel_h[·, kh] + rel_w[·, kw]
 * to logit (q, k).
 */
export function relPosKeySelector(size: number): Float32Array {
  const n = size * size;
  const out = new Float32Array(n * 2 * size);
  for (let k = 0; k < n; k++) {
    out[k * 2 * size + Math.floor(k / size)] = 1;
    out[k * 2 * size + size + (k % size)] = 1;
  }
  return out;
}

/**
 * Global attention goes through ONNX Runtime's MultiHeadAttention (com.microsoft) when its logits, heads × n²,
 * are at most this many floats: casam-small (3 × 1024² = 3.1 M), where it measured faster on the CPU provider
 * (exporter 4; numbers in the commit and bench/sam-encoder-graphs.ts). vit_b's global blocks (12 × 4096² =
 * 201 M) were not measured that way and keep the plain-op graph, byte for byte: the kernel would hold the summed
 * bias and its own score buffer, 800 MB each.
 */
const MHA_MAX_LOGITS = 1 << 24;
/**
 * Query chunks fed to MultiHeadAttention as its batch. Its CPU kernel parallelises over batch × heads only, each
 * item one single-threaded Gemm/softmax/Gemm, so casam-small's 3 heads alone would leave one of 2 threads idle
 * for a third of the kernel; 2 chunks × 3 heads = 6 items split evenly over 2 (or 3, 6) threads.
 */
const MHA_QUERY_CHUNKS = 2;

interface AttentionSpec {
  dim: number;
  heads: number;
  /** Side of the token map the attention runs on: the window size, or the grid for global blocks. */
  size: number;
  /** Number of token maps in the batch (windows, or 1). */
  batch: number;
  useRelPos: boolean;
}

/**
 * The official encoder `Attention` on POSITION-MAJOR tokens x [S·S·batch, E] (row p·batch + i: position p of
 * token map i) → the same layout. Position-major, q/k/v come out of the qkv Gemm already batched over the query
 * position ([n, batch·h, hd] is a free Reshape), which is the batch axis the decomposed rel-pos MatMuls need.
 *
 * The softmax scale hd^−0.5 is folded into the q columns of the qkv weight and bias, and the rel-pos tables are
 * divided by it, so (s·q)·kᵀ + (s·q)·(R/s) = the official (q·s)·kᵀ + q·R without a Mul.
 *
 * Small rel-pos tables (2S ≤ hd: casam presets, vit_b windows) skip the two broadcast Adds of
 * add_decomposed_rel_pos (each a pass over [bh, S, S, S, S] in S-long spans, the slowest nodes of casam-tiny on
 * ONNX Runtime): [q | rel_h | rel_w] is multiplied with [k | key selector] in the logits MatMul, one MatMul
 * with contraction hd + 2S instead of hd. Larger tables keep the Adds, which cost less there than the wider
 * MatMul: casam-small's global blocks (S = 32, hd = 32) through ONNX Runtime's MultiHeadAttention with the summed
 * rel-pos bias (exporter 4, see below), vit_b's (S = 64, 201 M logits) as the plain Add graph.
 */
function attention(b: GraphBuilder, w: ExportWeights, x: string, s: AttentionSpec): string {
  const { dim, heads, size, batch } = s;
  const hd = dim / heads;
  const n = size * size;
  const bh = batch * heads;
  const scale = hd ** -0.5;
  // One qkv Gemm ([n·batch, E]·[E, 3E], one large Gemm runs faster than three thin ones), then a Split.
  const wt = transpose2d(w.data('qkv.weight', [3 * dim, dim]), 3 * dim, dim); // [E, 3E], a fresh copy
  for (let r = 0; r < dim; r++) for (let c = 0; c < dim; c++) wt[r * 3 * dim + c] *= scale;
  const qkvW = b.weight(w.prefixName('qkv.weight_t_qscaled'), [dim, 3 * dim], wt);
  let qkvB: string | undefined;
  if (w.has('qkv.bias')) {
    const bias = Float32Array.from(w.data('qkv.bias', [3 * dim]));
    for (let c = 0; c < dim; c++) bias[c] *= scale;
    qkvB = b.weight(w.prefixName('qkv.bias_qscaled'), [3 * dim], bias);
  }
  const qkv5 = b.reshape(b.gemm(x, qkvW, qkvB), [n, batch, 3, heads, hd]);
  const [q, k, v] = b
    .op('Split', [qkv5, b.constI64([1, 1, 1])], { axis: attrInt(2) }, { numOutputs: 3 })
    .map((t) => b.reshape(t, [n, bh, hd])); // [n, b', hd], b' = (map, head); q carries the scale
  const byMap = (t: string) => b.transpose(t, [1, 0, 2]); // [n, b', c] → [b', n, c]
  const keysT = (t: string) => b.transpose(t, [1, 2, 0]); // [n, b', c] → [b', c, n]
  let logits: string;
  if (!s.useRelPos) logits = b.matMul(byMap(q), keysT(k));
  else {
    const table = (name: string) => {
      const t = expandRelPos(w.data(name, [2 * size - 1, hd]), size, hd);
      for (let i = 0; i < t.length; i++) t[i] /= scale;
      return b.weight(w.prefixName(name) + '.expanded_unscaled', [size, hd, size], t);
    };
    // rel_h[qh, qw, b', kh] = Σc q[qh, qw, b', c]·Rh[qh − kh + S − 1, c]: batched over qh, q as it comes.
    const rh = b.matMul(b.reshape(q, [size, size * bh, hd]), table('rel_pos_h')); // [qh, (qw, b'), kh]
    // rel_w[qh, qw, b', kw]: batched over qw, q with its position axes swapped.
    const qByW = b.transpose(b.reshape(q, [size, size, bh, hd]), [1, 0, 2, 3]); // [qw, qh, b', c]
    const rwT = b.reshape(b.matMul(b.reshape(qByW, [size, size * bh, hd]), table('rel_pos_w')), [
      size,
      size,
      bh,
      size,
    ]); // [qw, qh, b', kw]
    if (2 * size <= hd) {
      const rw = b.reshape(b.transpose(rwT, [1, 0, 2, 3]), [n, bh, size]); // [(qh, qw), b', kw]
      const qx = b.concat([q, b.reshape(rh, [n, bh, size]), rw], 2); // [n, b', hd + 2S]
      const sel = b.weight(
        w.prefixName('rel_pos') + '.key_selector',
        [n, 1, 2 * size],
        relPosKeySelector(size),
      );
      const kx = b.concat([k, b.expand(sel, [n, bh, 2 * size])], 2); // [n, b', hd + 2S]
      logits = b.matMul(byMap(qx), keysT(kx)); // [b', n, n]
    } else if (batch === 1 && bh * n * n <= MHA_MAX_LOGITS && size % MHA_QUERY_CHUNKS === 0) {
      // One global map of moderate size (casam-small: 3 heads × 1024²): ONNX Runtime's MultiHeadAttention
      // with the rel-pos terms as its attention bias. The bias is summed once, rel_h + rel_w (one broadcast
      // pass instead of two over the logits); the kernel adds it as the QK Gemm's accumulator, then runs
      // softmax and ·V per (batch, head) without separate Add/Softmax/MatMul passes over [h, n, n], and its
      // output is already the proj Gemm's rows [·, n, E] (no head-merge Transpose).
      // The queries go in as c = MHA_QUERY_CHUNKS batches of n/c (query rows qh of one chunk are contiguous),
      // each against all n keys (K and V broadcast), so the kernel has c × heads items to share out.
      const c = MHA_QUERY_CHUNKS;
      const sc = size / c;
      // rh [qh, (qw, b'), kh] → [chunk, b', qh', qw, kh, 1]
      const termH = b.reshape(b.transpose(b.reshape(rh, [c, sc, size, bh, size]), [0, 3, 1, 2, 4]), [
        c,
        bh,
        sc,
        size,
        size,
        1,
      ]);
      // rwT [qw, qh, b', kw] → [chunk, b', qh', qw, 1, kw]
      const termW = b.reshape(b.transpose(b.reshape(rwT, [size, c, sc, bh, size]), [1, 3, 2, 0, 4]), [
        c,
        bh,
        sc,
        size,
        1,
        size,
      ]);
      const bias = b.reshape(b.add(termH, termW), [c, bh, n / c, n]);
      const kv = (t: string) => b.expand(b.reshape(t, [1, n, dim]), [c, n, dim]);
      // [n, h, hd] → [c, n/c, (h, hd)]: a free reshape. scale 1: q already carries hd^−0.5 (qkv weight above).
      const o = b.op1(
        'MultiHeadAttention',
        [b.reshape(q, [c, n / c, dim]), kv(k), kv(v), '', '', bias],
        { num_heads: attrInt(heads), scale: attrFloat(1) },
        MS_DOMAIN,
      );
      const p = w.linear('proj', dim, dim);
      return b.gemm(b.reshape(o, [n, dim]), p.w, p.b);
    } else {
      // Same addition order as the official add_decomposed_rel_pos: (attn + rel_h) + rel_w.
      const termH = b.reshape(b.transpose(b.reshape(rh, [size, size, bh, size]), [2, 0, 1, 3]), [
        bh,
        size,
        size,
        size,
        1,
      ]);
      const termW = b.reshape(b.transpose(rwT, [2, 1, 0, 3]), [bh, size, size, 1, size]);
      const l5 = b.reshape(b.matMul(byMap(q), keysT(k)), [bh, size, size, size, size]);
      logits = b.reshape(b.add(b.add(l5, termH), termW), [bh, n, n]);
    }
  }
  const out = b.matMul(b.softmax(logits, -1), byMap(v)); // [b', n, hd]
  const merged = b.reshape(b.transpose(b.reshape(out, [batch, heads, n, hd]), [2, 0, 1, 3]), [
    n * batch,
    dim,
  ]);
  const p = w.linear('proj', dim, dim);
  return b.gemm(merged, p.w, p.b);
}

/** One official ViT `Block` on the token rows [g·g, E] (row-major over the grid). */
function vitBlock(b: GraphBuilder, w: ExportWeights, x: string, cfg: SamConfig, windowSize: number): string {
  const e = cfg.encoderEmbedDim;
  const g = gridSize(cfg);
  const eps = cfg.encoderLayerNormEps;
  const n1p = w.norm('norm1', e);
  const n1 = b.layerNorm(x, n1p.scale, n1p.bias, eps);
  let a: string;
  const attn = w.scope('attn');
  const spec = { dim: e, heads: cfg.encoderNumHeads, useRelPos: cfg.encoderUseRelPos };
  if (windowSize > 0) {
    const ws = windowSize;
    const pad = (ws - (g % ws)) % ws;
    const gp = g + pad;
    const nw = gp / ws;
    // Zero padding on the bottom/right; padded tokens take part in attention as plain zeros (not masked).
    const padded =
      pad > 0
        ? b.op1('Pad', [b.reshape(n1, [g, g, e]), b.constI64([0, 0, 0, pad, pad, 0])], {
            mode: { string: 'constant' },
          })
        : n1;
    // Window partition, position-major: [wy, py, wx, px, E] → [py, px, wy, wx, E].
    const windows = b.reshape(b.transpose(b.reshape(padded, [nw, ws, nw, ws, e]), [1, 3, 0, 2, 4]), [
      ws * ws * nw * nw,
      e,
    ]);
    const aw = b.scope('attn', () => attention(b, attn, windows, { ...spec, size: ws, batch: nw * nw }));
    const full = b.transpose(b.reshape(aw, [ws, ws, nw, nw, e]), [2, 0, 3, 1, 4]); // [wy, py, wx, px, E]
    a =
      pad > 0
        ? b.reshape(b.slice(b.reshape(full, [gp, gp, e]), [0, 0], [g, g], [0, 1]), [g * g, e])
        : b.reshape(full, [g * g, e]);
  } else a = b.scope('attn', () => attention(b, attn, n1, { ...spec, size: g, batch: 1 }));
  const x1 = b.add(x, a);
  const n2p = w.norm('norm2', e);
  const n2 = b.layerNorm(x1, n2p.scale, n2p.bias, eps);
  const hidden = Math.round(e * cfg.encoderMlpRatio);
  const lin1 = w.linear('mlp.lin1', e, hidden);
  const lin2 = w.linear('mlp.lin2', hidden, e);
  const m = b.scope('mlp', () => b.gemm(b.gelu(b.gemm(n2, lin1.w, lin1.b)), lin2.w, lin2.b));
  return b.add(x1, m);
}

/** Builds the encoder graph. `sd` holds (at least) the `image_encoder.*` weights of `cfg`. */
export function buildEncoderGraph(cfg: SamConfig, sd: StateDict): GraphBuilder {
  validateStateDict(sd, cfg, ['image_encoder']);
  const g = gridSize(cfg);
  if (!Number.isInteger(g))
    throw new OnnxExportError(`imgSize ${cfg.imgSize} is not a multiple of patch ${cfg.patchSize}`);
  if (cfg.encoderEmbedDim % cfg.encoderNumHeads !== 0)
    throw new OnnxExportError(
      `embed dim ${cfg.encoderEmbedDim} is not divisible by ${cfg.encoderNumHeads} heads`,
    );
  const e = cfg.encoderEmbedDim;
  const c = cfg.outChans;
  const p = cfg.patchSize;
  const ci = cfg.inChans;
  const b = new GraphBuilder(`${cfg.name}-image-encoder`);
  const w = new ExportWeights(sd, b, 'image_encoder.');
  const image = b.input(ENCODER_INPUT_NAME, 'float32', [1, ci, cfg.imgSize, cfg.imgSize]);

  // The patch embedding (a p×p stride-p Conv) as one Gemm on the patches [g·g, C·p·p] against the conv weight
  // viewed [E, C·p·p] (transB), with the conv bias and pos_embed folded into one [g·g, E] addend: the token
  // rows come out directly, no NCHW → NHWC reorder, no separate pos_embed Add.
  let x = b.scope('patch_embed', () => {
    const proj = w.scope('patch_embed.proj');
    const pw = b.weight(
      'image_encoder.patch_embed.proj.weight',
      [e, ci * p * p],
      proj.data('weight', [e, ci, p, p]),
    );
    const bias = proj.has('bias') ? proj.data('bias', [e]) : undefined;
    let addend: string | undefined;
    if (cfg.encoderUseAbsPos) {
      const pos = Float32Array.from(w.data('pos_embed', [1, g, g, e]));
      if (bias) for (let i = 0; i < pos.length; i++) pos[i] += bias[i % e];
      addend = b.weight('image_encoder.pos_embed_plus_patch_bias', [g * g, e], pos);
    } else if (bias) addend = b.weight('image_encoder.patch_embed.proj.bias', [e], bias);
    const patches = b.reshape(b.transpose(b.reshape(image, [ci, g, p, g, p]), [1, 3, 0, 2, 4]), [
      g * g,
      ci * p * p,
    ]);
    return b.gemm(patches, pw, addend, true); // [g·g, E]
  });

  for (let i = 0; i < cfg.encoderDepth; i++) {
    const global = cfg.encoderGlobalAttnIndexes.includes(i);
    x = b.scope(`blocks.${i}`, () =>
      vitBlock(b, w.scope(`blocks.${i}`), x, cfg, global ? 0 : cfg.encoderWindowSize),
    );
  }

  const out = b.scope('neck', () => {
    const eps = cfg.layerNorm2dEps;
    // neck.0 is a 1×1 conv without bias: a MatMul on the token rows.
    const n0w = w.data('neck.0.weight', [c, e, 1, 1]);
    const n0 = b.matMul(x, b.weight('image_encoder.neck.0.weight_t', [e, c], transpose2d(n0w, c, e)));
    const ln1 = w.norm('neck.1', c);
    const n1 = b.transpose(b.reshape(b.layerNorm(n0, ln1.scale, ln1.bias, eps), [1, g, g, c]), [0, 3, 1, 2]);
    const n2 = b.conv(n1, w.raw('neck.2.weight', [c, c, 3, 3]), undefined, { kernel: 3, pad: 1 });
    // LayerNorm2d as LayerNormalization on NHWC between two Transposes (3 nodes instead of 9).
    const ln3 = w.norm('neck.3', c);
    return b.transpose(b.layerNorm(b.transpose(n2, [0, 2, 3, 1]), ln3.scale, ln3.bias, eps), [0, 3, 1, 2]);
  });
  b.output(ENCODER_OUTPUT_NAME, out, 'float32', [1, c, g, g]);
  return b;
}

/**
 * The image encoder of `cfg` as ONNX bytes: input `image` [1,3,S,S] (preprocessed: normalised, zero-padded),
 * output `image_embeddings` [1,C,g,g].
 */
export function exportImageEncoderOnnx(
  cfg: SamConfig,
  sd: StateDict,
  opts: ModelOptions & SerializeOptions = {},
): SerializedModel {
  const b = buildEncoderGraph(cfg, sd);
  return b.serialize({
    ...opts,
    doc: opts.doc ?? `SAM image encoder (${cfg.name}), exported by casam-core`,
    metadata: { part: 'image_encoder', preset: cfg.name, ...opts.metadata },
  });
}
