import { SamConfig, gridSize } from './config';

export type SamPart = 'image_encoder' | 'prompt_encoder' | 'mask_decoder';
export const SAM_PARTS: readonly SamPart[] = ['image_encoder', 'prompt_encoder', 'mask_decoder'];

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/**
 * The state dict the official builder (`segment_anything/build_sam.py`) creates for `cfg`: names, shapes and
 * order. Order follows torch's `state_dict()`: a module's own parameters/buffers first, then its children in
 * registration order. Non-persistent buffers (pixel_mean/std) are not part of it.
 */
export function expectedStateDict(cfg: SamConfig, parts: readonly SamPart[] = SAM_PARTS): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const add = (name: string, shape: number[]): void => {
    out.push({ name, shape });
  };
  const linear = (name: string, inDim: number, outDim: number, bias = true): void => {
    add(`${name}.weight`, [outDim, inDim]);
    if (bias) add(`${name}.bias`, [outDim]);
  };
  const norm = (name: string, dim: number): void => {
    add(`${name}.weight`, [dim]);
    add(`${name}.bias`, [dim]);
  };
  // Canonical order regardless of how `parts` was listed.
  const want = new Set(parts);
  if (want.has('image_encoder')) imageEncoder(cfg, 'image_encoder', add, linear, norm);
  if (want.has('prompt_encoder')) promptEncoder(cfg, 'prompt_encoder', add, norm);
  if (want.has('mask_decoder')) maskDecoder(cfg, 'mask_decoder', add, linear, norm);
  return out;
}

type Add = (name: string, shape: number[]) => void;
type Linear = (name: string, inDim: number, outDim: number, bias?: boolean) => void;
type Norm = (name: string, dim: number) => void;

function imageEncoder(cfg: SamConfig, p: string, add: Add, linear: Linear, norm: Norm): void {
  const g = gridSize(cfg);
  const e = cfg.encoderEmbedDim;
  const headDim = e / cfg.encoderNumHeads;
  const hidden = Math.floor(e * cfg.encoderMlpRatio);
  if (cfg.encoderUseAbsPos) add(`${p}.pos_embed`, [1, g, g, e]);
  add(`${p}.patch_embed.proj.weight`, [e, cfg.inChans, cfg.patchSize, cfg.patchSize]);
  add(`${p}.patch_embed.proj.bias`, [e]);
  for (let i = 0; i < cfg.encoderDepth; i++) {
    const b = `${p}.blocks.${i}`;
    norm(`${b}.norm1`, e);
    // Block passes window_size 0 to global blocks, whose Attention then uses the full grid as input size.
    const windowed = cfg.encoderWindowSize > 0 && !cfg.encoderGlobalAttnIndexes.includes(i);
    const s = windowed ? cfg.encoderWindowSize : g;
    if (cfg.encoderUseRelPos) {
      // Parameters registered directly on Attention come before its qkv/proj children in state_dict order.
      add(`${b}.attn.rel_pos_h`, [2 * s - 1, headDim]);
      add(`${b}.attn.rel_pos_w`, [2 * s - 1, headDim]);
    }
    linear(`${b}.attn.qkv`, e, 3 * e, cfg.encoderQkvBias);
    linear(`${b}.attn.proj`, e, e);
    norm(`${b}.norm2`, e);
    linear(`${b}.mlp.lin1`, e, hidden);
    linear(`${b}.mlp.lin2`, hidden, e);
  }
  const c = cfg.outChans;
  add(`${p}.neck.0.weight`, [c, e, 1, 1]);
  norm(`${p}.neck.1`, c);
  add(`${p}.neck.2.weight`, [c, c, 3, 3]);
  norm(`${p}.neck.3`, c);
}

function promptEncoder(cfg: SamConfig, p: string, add: Add, norm: Norm): void {
  const c = cfg.promptEmbedDim;
  const m = cfg.maskInChans;
  add(`${p}.pe_layer.positional_encoding_gaussian_matrix`, [2, c / 2]);
  for (let i = 0; i < 4; i++) add(`${p}.point_embeddings.${i}.weight`, [1, c]); // pos/neg point, 2 box corners
  add(`${p}.not_a_point_embed.weight`, [1, c]);
  // Sequential(Conv, LN2d, GELU, Conv, LN2d, GELU, Conv): activations (2, 5) hold no parameters.
  add(`${p}.mask_downscaling.0.weight`, [m / 4, 1, 2, 2]);
  add(`${p}.mask_downscaling.0.bias`, [m / 4]);
  norm(`${p}.mask_downscaling.1`, m / 4);
  add(`${p}.mask_downscaling.3.weight`, [m, m / 4, 2, 2]);
  add(`${p}.mask_downscaling.3.bias`, [m]);
  norm(`${p}.mask_downscaling.4`, m);
  add(`${p}.mask_downscaling.6.weight`, [c, m, 1, 1]);
  add(`${p}.mask_downscaling.6.bias`, [c]);
  add(`${p}.no_mask_embed.weight`, [1, c]);
}

function maskDecoder(cfg: SamConfig, p: string, add: Add, linear: Linear, norm: Norm): void {
  const d = cfg.promptEmbedDim; // the official builder uses prompt_embed_dim as transformer_dim
  const tokens = cfg.numMultimaskOutputs + 1;
  const attention = (name: string, downsample: number): void => {
    const internal = d / downsample;
    linear(`${name}.q_proj`, d, internal);
    linear(`${name}.k_proj`, d, internal);
    linear(`${name}.v_proj`, d, internal);
    linear(`${name}.out_proj`, internal, d);
  };
  const mlp = (name: string, inDim: number, hidden: number, outDim: number, layers: number): void => {
    const dims = [inDim, ...new Array<number>(layers - 1).fill(hidden), outDim];
    for (let j = 0; j < layers; j++) linear(`${name}.layers.${j}`, dims[j], dims[j + 1]);
  };
  const t = `${p}.transformer`;
  const ds = cfg.decoderAttentionDownsampleRate;
  for (let i = 0; i < cfg.decoderTransformerDepth; i++) {
    const l = `${t}.layers.${i}`;
    attention(`${l}.self_attn`, 1);
    norm(`${l}.norm1`, d);
    attention(`${l}.cross_attn_token_to_image`, ds);
    norm(`${l}.norm2`, d);
    linear(`${l}.mlp.lin1`, d, cfg.decoderTransformerMlpDim);
    linear(`${l}.mlp.lin2`, cfg.decoderTransformerMlpDim, d);
    norm(`${l}.norm3`, d);
    norm(`${l}.norm4`, d);
    attention(`${l}.cross_attn_image_to_token`, ds);
  }
  attention(`${t}.final_attn_token_to_image`, ds);
  norm(`${t}.norm_final_attn`, d);
  add(`${p}.iou_token.weight`, [1, d]);
  add(`${p}.mask_tokens.weight`, [tokens, d]);
  // ConvTranspose2d weights are [in, out, kh, kw].
  add(`${p}.output_upscaling.0.weight`, [d, d / 4, 2, 2]);
  add(`${p}.output_upscaling.0.bias`, [d / 4]);
  norm(`${p}.output_upscaling.1`, d / 4);
  add(`${p}.output_upscaling.3.weight`, [d / 4, d / 8, 2, 2]);
  add(`${p}.output_upscaling.3.bias`, [d / 8]);
  for (let i = 0; i < tokens; i++) mlp(`${p}.output_hypernetworks_mlps.${i}`, d, d, d / 8, 3);
  mlp(`${p}.iou_prediction_head`, d, cfg.iouHeadHiddenDim, tokens, cfg.iouHeadDepth);
}
