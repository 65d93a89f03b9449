import { tf } from './tf';
import { SamConfig, gridSize } from './config';
import { conv2d, layerNorm, nhwcToNchw } from './layers';
import { ParamStore } from './params';
import { expectedStateDict } from './expected-keys';
import { CaptureFn, VitBlock, createVitBlock } from './vit-block';

export type { CaptureFn } from './vit-block';

export interface ImageEncoder {
  /**
   * Preprocessed images NCHW [B, inChans, imgSize, imgSize] → image embeddings NCHW [B, outChans, g, g].
   * `capture` sees `patch_embed`, `patch_embed_plus_pos`, `block{i}[.norm1|.attn|.norm2|.mlp]` (NHWC; windowed
   * `.attn` in window layout [B·nW, S, S, E]) and `neck.{0..3}` (NCHW) — the fixture's `encoder.*` names.
   */
  forward(x: tf.Tensor4D, capture?: CaptureFn): tf.Tensor4D;
  /** Frees tensors the encoder derived from its weights. The weights stay with the ParamStore. */
  dispose(): void;
}

export interface ImageEncoderOptions {
  /** Cap on attention logits held at once (see vit-attention). */
  maxLogitElements?: number;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Fails early, with the official name, on a checkpoint for another config. Each tensor is fetched through the
 * same accessor the model uses (so the ParamStore cache holds one copy) and compared in that TF layout.
 */
function checkWeights(cfg: SamConfig, params: ParamStore): void {
  const prefix = 'image_encoder.';
  for (const t of expectedStateDict(cfg, ['image_encoder'])) {
    const name = t.name.slice(prefix.length);
    const shape = t.shape;
    if (!params.has(name)) throw new Error(`image encoder: missing weight ${name}`);
    const base = name.slice(0, -'.weight'.length);
    let got: number[] = [];
    let want = shape;
    try {
      if (name.endsWith('.weight') && shape.length === 2) {
        got = params.linear(base).w.shape;
        want = [shape[1], shape[0]];
      } else if (name.endsWith('.weight') && shape.length === 4) {
        got = params.conv2d(base).w.shape;
        want = [shape[2], shape[3], shape[1], shape[0]];
      } else got = params.raw(name).shape;
    } catch {
      // A tensor of the wrong rank makes the layout conversion itself fail; report it like any mismatch.
    }
    if (!sameShape(got, want))
      throw new Error(
        `image encoder: ${name} does not fit config ${cfg.name} (expected PyTorch shape [${shape}])`,
      );
  }
}

/** The official ImageEncoderViT: patch embed (+abs pos) → ViT blocks → neck (1×1 conv, LN2d, 3×3 conv, LN2d). */
export function createImageEncoder(
  cfg: SamConfig,
  params: ParamStore,
  opts: ImageEncoderOptions = {},
): ImageEncoder {
  const e = cfg.encoderEmbedDim;
  const p = cfg.patchSize;
  const g = gridSize(cfg);
  if (!Number.isInteger(g)) throw new Error(`imgSize ${cfg.imgSize} is not a multiple of patchSize ${p}`);
  if (cfg.encoderWindowSize < 0) throw new Error(`negative window size ${cfg.encoderWindowSize}`);

  const blocks: VitBlock[] = [];
  try {
    checkWeights(cfg, params);

    // Patch embedding as one matMul: a 16×16 stride-16 conv is a linear map of each non-overlapping patch.
    // The weight reshapes happen inside the forward (free: a reshape shares the data) so that, in training
    // mode, they stay on the gradient tape.
    const proj = params.conv2d('patch_embed.proj');
    const patchB = proj.b;
    const posEmbed = cfg.encoderUseAbsPos ? (params.raw('pos_embed') as tf.Tensor4D) : null;

    for (let i = 0; i < cfg.encoderDepth; i++) {
      const global = cfg.encoderGlobalAttnIndexes.includes(i);
      blocks.push(
        createVitBlock(
          {
            dim: e,
            numHeads: cfg.encoderNumHeads,
            windowSize: global ? 0 : cfg.encoderWindowSize,
            grid: g,
            useRelPos: cfg.encoderUseRelPos,
            layerNormEps: cfg.encoderLayerNormEps,
            maxLogitElements: opts.maxLogitElements,
          },
          params.scope(`blocks.${i}`),
        ),
      );
    }

    const neck0W = params.conv2d('neck.0').w;
    const neck1 = params.norm('neck.1');
    const neck2 = params.conv2d('neck.2');
    const neck3 = params.norm('neck.3');
    const ln2dEps = cfg.layerNorm2dEps;

    const forward = (x: tf.Tensor4D, capture?: CaptureFn): tf.Tensor4D => {
      if (x.rank !== 4)
        throw new Error(`image encoder expects NCHW [B,${cfg.inChans},H,W], got [${x.shape}]`);
      const [b, c, h, w] = x.shape;
      if (c !== cfg.inChans) throw new Error(`image encoder expects ${cfg.inChans} channels, got ${c}`);
      if (h % p !== 0 || w % p !== 0) throw new Error(`image size ${h}×${w} is not a multiple of patch ${p}`);
      const gh = h / p;
      const gw = w / p;
      // The official code would add a mismatched pos_embed and fail (or mis-broadcast); say why instead.
      if (gh !== g || gw !== g)
        throw new Error(
          `image encoder: input ${h}×${w} gives a ${gh}×${gw} patch grid but pos_embed / ${cfg.name} expect ${g}×${g} ` +
            `(input must be the preprocessed ${cfg.imgSize}×${cfg.imgSize} image)`,
        );
      return tf.tidy(() => {
        // NCHW → NHWC → rows of patches (ky, kx, c), matching the [kh,kw,in,out] weight flattening.
        const nhwc = tf.transpose(x, [0, 2, 3, 1]);
        const rows = tf.transpose(tf.reshape(nhwc, [b * gh, p, gw, p * c]), [0, 2, 1, 3]);
        const patchW = tf.reshape(proj.w, [p * p * cfg.inChans, e]) as tf.Tensor2D;
        let t: tf.Tensor = tf.matMul(tf.reshape(rows, [b * gh * gw, p * p * c]), patchW);
        if (patchB) t = tf.add(t, patchB);
        let tokens = tf.reshape(t, [b, gh, gw, e]) as tf.Tensor4D;
        capture?.('patch_embed', tokens);
        if (posEmbed) {
          tokens = tf.add(tokens, posEmbed);
          capture?.('patch_embed_plus_pos', tokens);
        }
        for (let i = 0; i < blocks.length; i++) tokens = blocks[i].forward(tokens, capture, `block${i}`);

        const neck0 = tf.reshape(neck0W, [e, cfg.outChans]) as tf.Tensor2D;
        const n0 = tf.reshape(tf.matMul(tf.reshape(tokens, [b * gh * gw, e]), neck0), [
          b,
          gh,
          gw,
          cfg.outChans,
        ]);
        capture?.('neck.0', nhwcToNchw(n0));
        const n1 = layerNorm(n0, neck1, ln2dEps) as tf.Tensor4D;
        capture?.('neck.1', nhwcToNchw(n1));
        const n2 = conv2d(n1, neck2, 1, 1);
        capture?.('neck.2', nhwcToNchw(n2));
        const n3 = layerNorm(n2, neck3, ln2dEps) as tf.Tensor4D;
        const outNchw = nhwcToNchw(n3);
        capture?.('neck.3', outNchw);
        return outNchw;
      });
    };

    return {
      forward,
      dispose() {
        for (const blk of blocks) blk.dispose();
        blocks.length = 0;
      },
    };
  } catch (err) {
    for (const blk of blocks) blk.dispose();
    throw err;
  }
}
