/**
 * The SAM image encoder (official `ImageEncoderViT`) as an ONNX graph, built from official-named weights.
 *
 *   image [1,3,S,S] (preprocessed) → patch Conv → +pos_embed → ViT blocks (windowed or global attention with
 *   decomposed relative positions) → neck (1×1 conv, LN2d, 3×3 conv, LN2d) → image_embeddings [1,C,g,g]
 *
 * Same input and output names and shapes as `torch.onnx.export(sam.image_encoder)`, so the file drops into
 * `createOnnxSamEngine` in place of an official export. The tokens run NHWC ([1,g,g,E]) between the patch
 * embedding and the neck, as in the official code, so LayerNormalization normalises the last axis.
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

interface AttentionSpec {
  dim: number;
  heads: number;
  /** Side of the token map the attention runs on: the window size, or the grid for global blocks. */
  size: number;
  /** Number of token maps in the batch (windows, or 1). */
  batch: number;
  useRelPos: boolean;
}

/** The official encoder `Attention` on x [batch, S·S, E] → [batch, S·S, E]. */
function attention(b: GraphBuilder, w: ExportWeights, x: string, s: AttentionSpec): string {
  const { dim, heads, size, batch } = s;
  const hd = dim / heads;
  const n = size * size;
  // One qkv Gemm ([n, E]·[E, 3E], the fused weight transposed once here), then one Transpose to
  // [3, B, h, N, hd] and a Split on the outer axis (contiguous copies): one large Gemm runs faster than three
  // thin ones, and k stays [B, h, N, hd] so ONNX Runtime folds its Transpose into the logits' FusedMatMul.
  const qkv = w.linear('qkv', dim, 3 * dim);
  const heads5 = b.transpose(b.reshape(b.linear(x, qkv.w, qkv.b), [batch, n, 3, heads, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = b
    .op('Split', [heads5, b.constI64([1, 1, 1])], { axis: attrInt(0) }, { numOutputs: 3 })
    .map((t) => b.reshape(t, [batch, heads, n, hd])); // [B, h, N, hd]
  const kT = b.transpose(k, [0, 1, 3, 2]); // [B, h, hd, N]
  // Official order: (q·scale)·kᵀ, then the rel-pos terms from the UNSCALED q.
  let logits = b.matMul(b.mul(q, b.constF32(hd ** -0.5)), kT); // [B, h, N, N]
  if (s.useRelPos) {
    const bh = batch * heads;
    const relH = b.weight(
      w.prefixName('rel_pos_h') + '.expanded',
      [size, hd, size],
      expandRelPos(w.data('rel_pos_h', [2 * size - 1, hd]), size, hd),
    );
    const relW = b.weight(
      w.prefixName('rel_pos_w') + '.expanded',
      [size, hd, size],
      expandRelPos(w.data('rel_pos_w', [2 * size - 1, hd]), size, hd),
    );
    const q4 = b.reshape(q, [bh, size, size, hd]); // [b', qh, qw, c]
    // rel_h[b', qh, qw, kh] = Σc q[b', qh, qw, c]·Rh[qh − kh + S − 1, c]: batched over qh.
    const byH = b.reshape(b.transpose(q4, [1, 0, 2, 3]), [size, bh * size, hd]); // [qh, (b', qw), c]
    const rh = b.reshape(b.matMul(byH, relH), [size, bh, size, size]); // [qh, b', qw, kh]
    const termH = b.reshape(b.transpose(rh, [1, 0, 2, 3]), [bh, size, size, size, 1]);
    // rel_w[b', qh, qw, kw] = Σc q[b', qh, qw, c]·Rw[qw − kw + S − 1, c]: batched over qw.
    const byW = b.reshape(b.transpose(q4, [2, 0, 1, 3]), [size, bh * size, hd]); // [qw, (b', qh), c]
    const rw = b.reshape(b.matMul(byW, relW), [size, bh, size, size]); // [qw, b', qh, kw]
    const termW = b.reshape(b.transpose(rw, [1, 2, 0, 3]), [bh, size, size, 1, size]);
    // Same addition order as the official add_decomposed_rel_pos: (attn + rel_h) + rel_w.
    const l5 = b.reshape(logits, [bh, size, size, size, size]);
    logits = b.reshape(b.add(b.add(l5, termH), termW), [batch, heads, n, n]);
  }
  const out = b.matMul(b.softmax(logits, -1), v); // [B, h, N, hd]
  const merged = b.reshape(b.transpose(out, [0, 2, 1, 3]), [batch, n, dim]);
  const p = w.linear('proj', dim, dim);
  return b.linear(merged, p.w, p.b);
}

/** One official ViT `Block` on NHWC tokens [1, g, g, E]. */
function vitBlock(b: GraphBuilder, w: ExportWeights, x: string, cfg: SamConfig, windowSize: number): string {
  const e = cfg.encoderEmbedDim;
  const g = gridSize(cfg);
  const eps = cfg.encoderLayerNormEps;
  const n1p = w.norm('norm1', e);
  const n1 = b.layerNorm(x, n1p.scale, n1p.bias, eps);
  let a: string;
  const attn = w.scope('attn');
  if (windowSize > 0) {
    const ws = windowSize;
    const pad = (ws - (g % ws)) % ws;
    const gp = g + pad;
    const nw = gp / ws;
    // Zero padding on the bottom/right; padded tokens take part in attention as plain zeros (not masked).
    const padded =
      pad > 0
        ? b.op1('Pad', [n1, b.constI64([0, 0, 0, 0, 0, pad, pad, 0])], { mode: { string: 'constant' } })
        : n1;
    const windows = b.reshape(b.transpose(b.reshape(padded, [nw, ws, nw, ws, e]), [0, 2, 1, 3, 4]), [
      nw * nw,
      ws * ws,
      e,
    ]);
    const aw = b.scope('attn', () =>
      attention(b, attn, windows, {
        dim: e,
        heads: cfg.encoderNumHeads,
        size: ws,
        batch: nw * nw,
        useRelPos: cfg.encoderUseRelPos,
      }),
    );
    const full = b.reshape(b.transpose(b.reshape(aw, [nw, nw, ws, ws, e]), [0, 2, 1, 3, 4]), [1, gp, gp, e]);
    a = pad > 0 ? b.slice(full, [0, 0], [g, g], [1, 2]) : full;
  } else {
    const tokens = b.reshape(n1, [1, g * g, e]);
    const ag = b.scope('attn', () =>
      attention(b, attn, tokens, {
        dim: e,
        heads: cfg.encoderNumHeads,
        size: g,
        batch: 1,
        useRelPos: cfg.encoderUseRelPos,
      }),
    );
    a = b.reshape(ag, [1, g, g, e]);
  }
  const x1 = b.add(x, a);
  const n2p = w.norm('norm2', e);
  const n2 = b.layerNorm(x1, n2p.scale, n2p.bias, eps);
  const hidden = Math.round(e * cfg.encoderMlpRatio);
  const lin1 = w.linear('mlp.lin1', e, hidden);
  const lin2 = w.linear('mlp.lin2', hidden, e);
  const m = b.scope('mlp', () => b.linear(b.gelu(b.linear(n2, lin1.w, lin1.b)), lin2.w, lin2.b));
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
  const b = new GraphBuilder(`${cfg.name}-image-encoder`);
  const w = new ExportWeights(sd, b, 'image_encoder.');
  const image = b.input(ENCODER_INPUT_NAME, 'float32', [1, cfg.inChans, cfg.imgSize, cfg.imgSize]);

  let x = b.scope('patch_embed', () => {
    const proj = w.scope('patch_embed.proj');
    const pw = proj.raw('weight', [e, cfg.inChans, p, p]);
    const pb = proj.has('bias') ? proj.raw('bias', [e]) : undefined;
    return b.transpose(b.conv(image, pw, pb, { kernel: p, stride: p }), [0, 2, 3, 1]); // [1, g, g, E]
  });
  if (cfg.encoderUseAbsPos) x = b.add(x, w.raw('pos_embed', [1, g, g, e]));

  for (let i = 0; i < cfg.encoderDepth; i++) {
    const global = cfg.encoderGlobalAttnIndexes.includes(i);
    x = b.scope(`blocks.${i}`, () =>
      vitBlock(b, w.scope(`blocks.${i}`), x, cfg, global ? 0 : cfg.encoderWindowSize),
    );
  }

  const out = b.scope('neck', () => {
    const eps = cfg.layerNorm2dEps;
    // neck.0 is a 1×1 conv without bias: a MatMul on the NHWC tokens.
    const n0w = w.data('neck.0.weight', [c, e, 1, 1]);
    const n0 = b.matMul(x, b.weight('image_encoder.neck.0.weight_t', [e, c], transpose2d(n0w, c, e)));
    const ln1 = w.norm('neck.1', c);
    const n1 = b.transpose(b.layerNorm(n0, ln1.scale, ln1.bias, eps), [0, 3, 1, 2]); // NCHW
    const n2 = b.conv(n1, w.raw('neck.2.weight', [c, c, 3, 3]), undefined, { kernel: 3, pad: 1 });
    const ln3 = w.norm('neck.3', c, [c, 1, 1]);
    return b.layerNorm2d(n2, ln3.scale, ln3.bias, eps);
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
