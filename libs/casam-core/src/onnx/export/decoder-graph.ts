/**
 * SAM's prompt encoder + mask decoder as one ONNX graph with the signature of the official `SamOnnxModel`
 * (`segment_anything/utils/onnx.py`, `return_single_mask=False`, no stability score, no extra metrics), so a
 * file from here and one from the official `scripts/export_onnx_model.py` are interchangeable in
 * `createOnnxSamEngine`:
 *
 *   inputs  image_embeddings [1,C,g,g], point_coords [1,N,2] (input frame), point_labels [1,N]
 *           (1 pos, 0 neg, −1 padding, 2/3 box corners), mask_input [1,1,4g,4g], has_mask_input [1],
 *           orig_im_size [2] (h, w, float)
 *   outputs masks [1,K,h,w] (upscaled logits), iou_predictions [1,K], low_res_masks [1,K,4g,4g]
 *           (K = all mask tokens: 0 = single-mask output, 1..3 = multimask outputs)
 *
 * N is a dynamic axis (`num_points`), as in the official export. Like the official wrapper, nothing pads the
 * points: the caller appends (0,0)/−1 when there is no box (promptToDecoderInputs does).
 */
import { SamConfig, gridSize } from '../../sam/config';
import { StateDict } from '../../tensor/host-tensor';
import { validateStateDict } from '../../weights/validate';
import {
  GraphBuilder,
  ModelOptions,
  OnnxExportError,
  SerializeOptions,
  SerializedModel,
  attrInt,
} from './onnx-builder';
import { ExportWeights } from './weights';

export const DECODER_INPUT_NAMES = [
  'image_embeddings',
  'point_coords',
  'point_labels',
  'mask_input',
  'has_mask_input',
  'orig_im_size',
] as const;
export const DECODER_OUTPUT_NAMES = ['masks', 'iou_predictions', 'low_res_masks'] as const;

/** _pe_encoding: coords in [0,1] [..., 2] → [..., C] as [sin | cos] of 2π·(2c − 1)·G. */
function peEncoding(b: GraphBuilder, coords: string, gaussian: string): string {
  const c = b.sub(b.mul(coords, b.constF32(2)), b.constF32(1));
  const proj = b.mul(b.matMul(c, gaussian), b.constF32(2 * Math.PI));
  return b.concat([b.op1('Sin', [proj]), b.op1('Cos', [proj])], -1);
}

/**
 * get_dense_pe() in token layout [1, g·g, C] (token h·g + w). The grid is a constant and so is everything
 * computed from it: ONNX Runtime folds it at load time, in float32 like the official code.
 */
function densePe(b: GraphBuilder, g: number, gaussian: string): string {
  const xy = new Float32Array(g * g * 2);
  for (let i = 0; i < g; i++)
    for (let j = 0; j < g; j++) {
      // Official: cumsum of ones − 0.5, i.e. exact (j + 0.5) and (i + 0.5), over the grid size.
      xy[(i * g + j) * 2] = Math.fround(j + 0.5) / g;
      xy[(i * g + j) * 2 + 1] = Math.fround(i + 0.5) / g;
    }
  const grid = b.weight('prompt_encoder.dense_pe_grid', [1, g * g, 2], xy);
  return peEncoding(b, grid, gaussian);
}

interface DecoderAttention {
  q: { w: string; b?: string };
  k: { w: string; b?: string };
  v: { w: string; b?: string };
  out: { w: string; b?: string };
  internal: number;
}

function attentionWeights(w: ExportWeights, c: number, internal: number): DecoderAttention {
  return {
    q: w.linear('q_proj', c, internal),
    k: w.linear('k_proj', c, internal),
    v: w.linear('v_proj', c, internal),
    out: w.linear('out_proj', internal, c),
    internal,
  };
}

/** The official decoder Attention: heads of consecutive channels, softmax(q·kᵀ / √d)·v, out_proj. */
function attention(
  b: GraphBuilder,
  a: DecoderAttention,
  heads: number,
  q: string,
  k: string,
  v: string,
): string {
  const d = a.internal / heads;
  const split = (x: string, p: { w: string; b?: string }, perm: number[]): string =>
    b.transpose(b.reshape(b.linear(x, p.w, p.b), [1, -1, heads, d]), perm);
  const qh = split(q, a.q, [0, 2, 1, 3]); // [1, h, Nq, d]
  const kT = split(k, a.k, [0, 2, 3, 1]); // [1, h, d, Nk]
  const vh = split(v, a.v, [0, 2, 1, 3]); // [1, h, Nk, d]
  const logits = b.div(b.matMul(qh, kT), b.constF32(Math.sqrt(d)));
  const o = b.matMul(b.softmax(logits, -1), vh); // [1, h, Nq, d]
  const merged = b.reshape(b.transpose(o, [0, 2, 1, 3]), [1, -1, a.internal]);
  return b.linear(merged, a.out.w, a.out.b);
}

/** The official TwoWayTransformer: image [1,HW,C], pe [1,HW,C], points [1,T,C] → { queries, keys }. */
function twoWayTransformer(
  b: GraphBuilder,
  w: ExportWeights,
  cfg: SamConfig,
  image: string,
  imagePe: string,
  points: string,
): { queries: string; keys: string } {
  const c = cfg.promptEmbedDim;
  const heads = cfg.decoderTransformerNumHeads;
  const eps = cfg.decoderLayerNormEps;
  const cross = c / cfg.decoderAttentionDownsampleRate;
  if (!Number.isInteger(cross) || cross % heads !== 0 || c % heads !== 0)
    throw new OnnxExportError(
      `decoder width ${c} / rate ${cfg.decoderAttentionDownsampleRate} does not split into ${heads} heads`,
    );
  const ln = (x: string, s: ExportWeights, name: string): string => {
    const p = s.norm(name, c);
    return b.layerNorm(x, p.scale, p.bias, eps);
  };
  let queries = points;
  let keys = image;
  for (let i = 0; i < cfg.decoderTransformerDepth; i++) {
    const s = w.scope(`layers.${i}`);
    ({ queries, keys } = b.scope(`layers.${i}`, () => {
      let qs = queries;
      let ks = keys;
      const selfAttn = attentionWeights(s.scope('self_attn'), c, c);
      // The first layer replaces the queries by their self-attention (no residual, no PE), as official.
      if (i === 0) qs = attention(b, selfAttn, heads, qs, qs, qs);
      else {
        const q = b.add(qs, points);
        qs = b.add(qs, attention(b, selfAttn, heads, q, q, qs));
      }
      qs = ln(qs, s, 'norm1');
      // Tokens attend to the image.
      const t2i = attentionWeights(s.scope('cross_attn_token_to_image'), c, cross);
      qs = b.add(qs, attention(b, t2i, heads, b.add(qs, points), b.add(ks, imagePe), ks));
      qs = ln(qs, s, 'norm2');
      // MLP (ReLU).
      const hidden = cfg.decoderTransformerMlpDim;
      const l1 = s.linear('mlp.lin1', c, hidden);
      const l2 = s.linear('mlp.lin2', hidden, c);
      qs = b.add(qs, b.linear(b.relu(b.linear(qs, l1.w, l1.b)), l2.w, l2.b));
      qs = ln(qs, s, 'norm3');
      // The image attends to the tokens.
      const i2t = attentionWeights(s.scope('cross_attn_image_to_token'), c, cross);
      ks = b.add(ks, attention(b, i2t, heads, b.add(ks, imagePe), b.add(qs, points), qs));
      ks = ln(ks, s, 'norm4');
      return { queries: qs, keys: ks };
    }));
  }
  const final = attentionWeights(w.scope('final_attn_token_to_image'), c, cross);
  const out = b.scope('final_attn', () => {
    const a = attention(b, final, heads, b.add(queries, points), b.add(keys, imagePe), keys);
    return ln(b.add(queries, a), w, 'norm_final_attn');
  });
  return { queries: out, keys };
}

/**
 * Bilinear resampling (align_corners=False, no antialias) of the first `crop` rows of x [1,K,R,C] to `out`
 * rows, both int64 scalars known only at run time (from orig_im_size). The source coordinates follow
 * PyTorch's area_pixel_compute_source_index with the float32 scale crop/out, evaluated in float64: ONNX
 * Resize's float32 (x + 0.5)/scale − 0.5 lands up to ~1e-5 px off for a 240-px axis, which on a trained
 * model's steep logits (|x| ≈ 30) moves `masks` by more than 1e-4. Rows (axis 2), not columns, because
 * Gather copies whole rows there; along the last axis it copies element by element, ~10× slower.
 */
function bilinearRows(b: GraphBuilder, x: string, crop: string, out: string): string {
  const scale = b.cast(b.div(b.cast(crop, 'float32'), b.cast(out, 'float32')), 'float64');
  const dst = b.op1('Range', [b.constF64(0), b.cast(out, 'float64'), b.constF64(1)]);
  const src = b.op1('Max', [
    b.sub(b.mul(b.add(dst, b.constF64(0.5)), scale), b.constF64(0.5)),
    b.constF64(0),
  ]);
  const floor = b.op1('Floor', [src]);
  const lambda1 = b.unsqueeze(b.cast(b.sub(src, floor), 'float32'), [1]); // [out, 1]
  const lambda0 = b.sub(b.constF32(1), lambda1);
  const i0 = b.cast(floor, 'int64');
  const i1 = b.op1('Min', [b.add(i0, b.constI64([1], true)), b.sub(crop, b.constI64([1], true))]);
  const g0 = b.op1('Gather', [x, i0], { axis: attrInt(2) });
  const g1 = b.op1('Gather', [x, i1], { axis: attrInt(2) });
  return b.add(b.mul(g0, lambda0), b.mul(g1, lambda1));
}

/** Builds the decoder graph. `sd` holds (at least) the `prompt_encoder.*` and `mask_decoder.*` weights. */
export function buildDecoderGraph(cfg: SamConfig, sd: StateDict): GraphBuilder {
  validateStateDict(sd, cfg, ['prompt_encoder', 'mask_decoder']);
  const c = cfg.promptEmbedDim;
  const g = gridSize(cfg);
  const m = 4 * g;
  const k = cfg.numMultimaskOutputs + 1;
  const s = cfg.imgSize;
  const mc = cfg.maskInChans;
  const ln2dEps = cfg.layerNorm2dEps;
  if (c % 8 !== 0) throw new OnnxExportError(`prompt embed dim ${c} is not a multiple of 8`);
  const b = new GraphBuilder(`${cfg.name}-prompt-decoder`);
  const pe = new ExportWeights(sd, b, 'prompt_encoder.');
  const md = new ExportWeights(sd, b, 'mask_decoder.');

  const embeddings = b.input('image_embeddings', 'float32', [1, c, g, g]);
  const pointCoords = b.input('point_coords', 'float32', [1, 'num_points', 2]);
  const pointLabels = b.input('point_labels', 'float32', [1, 'num_points']);
  const maskInput = b.input('mask_input', 'float32', [1, 1, m, m]);
  const hasMask = b.input('has_mask_input', 'float32', [1]);
  const origSize = b.input('orig_im_size', 'float32', [2]);

  const gaussian = pe.raw('pe_layer.positional_encoding_gaussian_matrix', [2, c / 2]);

  // _embed_points: PE of (coords + 0.5) / img_size; label −1 swaps the PE for not_a_point_embed, labels 0..3
  // add point_embeddings[label]; any other label adds nothing (official masked sums, not a lookup).
  const sparse = b.scope('embed_points', () => {
    const coords = b.div(b.add(pointCoords, b.constF32(0.5)), b.constF32(s));
    const pts = peEncoding(b, coords, gaussian); // [1, N, C]
    const lab = b.unsqueeze(pointLabels, [-1]); // [1, N, 1]
    const is = (v: number): string => b.cast(b.op1('Equal', [lab, b.constF32(v)]), 'float32');
    const notPad = b.cast(b.op1('Not', [b.op1('Equal', [lab, b.constF32(-1)])]), 'float32');
    let emb = b.mul(pts, notPad);
    emb = b.add(emb, b.mul(pe.raw('not_a_point_embed.weight', [1, c]), is(-1)));
    for (let i = 0; i < 4; i++)
      emb = b.add(emb, b.mul(pe.raw(`point_embeddings.${i}.weight`, [1, c]), is(i)));
    return emb;
  });

  // _embed_masks: has_mask·mask_downscaling(mask_input) + (1 − has_mask)·no_mask_embed.
  const dense = b.scope('embed_masks', () => {
    const d = pe.scope('mask_downscaling');
    const c4 = mc / 4;
    let x = b.conv(maskInput, d.raw('0.weight', [c4, 1, 2, 2]), d.raw('0.bias', [c4]), {
      kernel: 2,
      stride: 2,
    });
    const n1 = d.norm('1', c4);
    x = b.gelu(b.layerNorm2d(x, n1.scale, n1.bias, ln2dEps));
    x = b.conv(x, d.raw('3.weight', [mc, c4, 2, 2]), d.raw('3.bias', [mc]), { kernel: 2, stride: 2 });
    const n4 = d.norm('4', mc);
    x = b.gelu(b.layerNorm2d(x, n4.scale, n4.bias, ln2dEps));
    x = b.conv(x, d.raw('6.weight', [c, mc, 1, 1]), d.raw('6.bias', [c]), { kernel: 1 });
    const noMask = pe.raw('no_mask_embed.weight', [1, c], [1, c, 1, 1]);
    return b.add(b.mul(hasMask, x), b.mul(b.sub(b.constF32(1), hasMask), noMask));
  });

  // predict_masks.
  const iouToken = md.data('iou_token.weight', [1, c]);
  const maskTokens = md.data('mask_tokens.weight', [k, c]);
  const outputTokens = new Float32Array((1 + k) * c);
  outputTokens.set(iouToken, 0);
  outputTokens.set(maskTokens, c);
  const tokens = b.concat([b.weight('mask_decoder.output_tokens', [1, 1 + k, c], outputTokens), sparse], 1);
  const src = b.transpose(b.reshape(b.add(embeddings, dense), [1, c, g * g]), [0, 2, 1]); // [1, HW, C]
  const pos = b.scope('dense_pe', () => densePe(b, g, gaussian));
  const { queries: hs, keys } = b.scope('transformer', () =>
    twoWayTransformer(b, md.scope('transformer'), cfg, src, pos, tokens),
  );
  const iouTokenOut = b.op1('Gather', [hs, b.constI64([0])], { axis: attrInt(1) }); // [1, 1, C]
  const maskTokensOut = b.slice(hs, [1], [1 + k], [1]); // [1, K, C]

  // Output upscaling: ConvT → LN2d → GELU → ConvT → GELU, NCHW.
  const upscaled = b.scope('output_upscaling', () => {
    const u = md.scope('output_upscaling');
    let x = b.reshape(b.transpose(keys, [0, 2, 1]), [1, c, g, g]);
    x = b.convTranspose(x, u.raw('0.weight', [c, c / 4, 2, 2]), u.raw('0.bias', [c / 4]), 2, 2);
    const n1 = u.norm('1', c / 4);
    x = b.gelu(b.layerNorm2d(x, n1.scale, n1.bias, ln2dEps));
    x = b.convTranspose(x, u.raw('3.weight', [c / 4, c / 8, 2, 2]), u.raw('3.bias', [c / 8]), 2, 2);
    return b.gelu(x); // [1, C/8, 4g, 4g]
  });

  // The K hypernetwork MLPs as one batched MatMul per layer: [K,1,in]·[K,in,out] + [K,1,out].
  const hyperIn = b.scope('output_hypernetworks_mlps', () => {
    const dims = [c, c, c, c / 8];
    let x = b.transpose(maskTokensOut, [1, 0, 2]); // [K, 1, C]
    for (let j = 0; j < 3; j++) {
      const [i, o] = [dims[j], dims[j + 1]];
      const wk = new Float32Array(k * i * o);
      const bk = new Float32Array(k * o);
      for (let t = 0; t < k; t++) {
        const l = `output_hypernetworks_mlps.${t}.layers.${j}`;
        const wt = md.data(`${l}.weight`, [o, i]);
        for (let r = 0; r < o; r++) for (let q = 0; q < i; q++) wk[(t * i + q) * o + r] = wt[r * i + q];
        bk.set(md.data(`${l}.bias`, [o]), t * o);
      }
      const wName = b.weight(
        `mask_decoder.output_hypernetworks_mlps.layers.${j}.weight_stacked`,
        [k, i, o],
        wk,
      );
      const bName = b.weight(
        `mask_decoder.output_hypernetworks_mlps.layers.${j}.bias_stacked`,
        [k, 1, o],
        bk,
      );
      x = b.add(b.matMul(x, wName), bName);
      if (j < 2) x = b.relu(x);
    }
    return b.reshape(x, [1, k, c / 8]);
  });
  const lowRes = b.reshape(b.matMul(hyperIn, b.reshape(upscaled, [1, c / 8, m * m])), [1, k, m, m]);

  const iou = b.scope('iou_prediction_head', () => {
    let x = b.reshape(iouTokenOut, [1, c]);
    const depth = cfg.iouHeadDepth;
    for (let j = 0; j < depth; j++) {
      const i = j === 0 ? c : cfg.iouHeadHiddenDim;
      const o = j === depth - 1 ? k : cfg.iouHeadHiddenDim;
      const l = md.linear(`iou_prediction_head.layers.${j}`, i, o);
      x = b.linear(x, l.w, l.b);
      if (j < depth - 1) x = b.relu(x);
    }
    return x; // [1, K], no sigmoid
  });

  // mask_postprocessing: bilinear (align_corners=False) to S×S, crop to the resized image, bilinear to the
  // original size, with the crop size computed as the official resize_longest_image_size does.
  const masks = b.scope('postprocess', () => {
    // 4g → S has scale 4 (or 2), where Resize's source coordinates are exact in float32.
    const up = b.op1('Resize', [lowRes, '', '', b.constI64([1, k, s, s])], {
      mode: { string: 'linear' },
      coordinate_transformation_mode: { string: 'half_pixel' },
    });
    const longest = b.op1('ReduceMax', [origSize], { keepdims: attrInt(0) });
    const scale = b.mul(b.op1('Reciprocal', [longest]), b.constF32(s));
    const prepadded = b.cast(b.op1('Floor', [b.add(b.mul(scale, origSize), b.constF32(0.5))]), 'int64');
    const outSize = b.cast(origSize, 'int64');
    const at = (v: string, i: number): string =>
      b.op1('Gather', [v, b.constI64([i], true)], { axis: attrInt(0) });
    // Width first, then height, as PyTorch's separable bilinear does; each axis is brought to the row position
    // for bilinearRows. Indices point into the uncropped S×S map and stay below the crop size, so the crop
    // needs no Slice.
    const byCols = bilinearRows(b, b.transpose(up, [0, 1, 3, 2]), at(prepadded, 1), at(outSize, 1));
    return bilinearRows(b, b.transpose(byCols, [0, 1, 3, 2]), at(prepadded, 0), at(outSize, 0));
  });

  b.output('masks', masks, 'float32', [1, k, 'orig_height', 'orig_width']);
  b.output('iou_predictions', iou, 'float32', [1, k]);
  b.output('low_res_masks', lowRes, 'float32', [1, k, m, m]);
  return b;
}

/**
 * Prompt encoder + mask decoder of `cfg` as ONNX bytes in the official `SamOnnxModel` signature (see the file
 * header). `sd` needs the `prompt_encoder.*` and `mask_decoder.*` weights; image-encoder weights are ignored.
 */
export function exportPromptDecoderOnnx(
  cfg: SamConfig,
  sd: StateDict,
  opts: ModelOptions & SerializeOptions = {},
): SerializedModel {
  const b = buildDecoderGraph(cfg, sd);
  return b.serialize({
    ...opts,
    doc:
      opts.doc ??
      `SAM prompt encoder + mask decoder (${cfg.name}, SamOnnxModel signature), exported by casam-core`,
    metadata: { part: 'prompt_decoder', preset: cfg.name, ...opts.metadata },
  });
}
