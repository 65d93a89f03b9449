import { tf } from './tf';
import { SamConfig, gridSize } from './config';
import { ParamStore } from './params';
import { conv2d, gelu, layerNorm, nchwToNhwc, nhwcToNchw } from './layers';

/** Receives named intermediates (in the fixture's layout) for parity tests; never needed in production. */
export type PromptEncoderTap = (name: string, t: tf.Tensor) => void;

export interface PromptPoints {
  /** (x, y) in input-frame pixels, [B,N,2]. */
  coords: tf.Tensor3D;
  /** [B,N]: 1 positive, 0 negative, −1 padding; 2 / 3 box corners (the ONNX convention). */
  labels: tf.Tensor2D;
}

export interface PromptInput {
  points?: PromptPoints;
  /** (x0, y0, x1, y1) in input-frame pixels, [B,4]. */
  boxes?: tf.Tensor2D;
  /** Low-res mask logits NCHW [B,1,4g,4g]. */
  masks?: tf.Tensor4D;
}

export interface PromptEmbeddings {
  /** [B,T,C]; T = 0 for a mask-only prompt. */
  sparse: tf.Tensor3D;
  /** NCHW [B,C,g,g]. */
  dense: tf.Tensor4D;
}

export interface PromptEncoder {
  readonly embedDim: number;
  /** (h, w) of the image-embedding grid. */
  readonly imageEmbeddingSize: [number, number];
  /** (h, w) of the padded model input the coordinates refer to. */
  readonly inputImageSize: [number, number];
  /** get_dense_pe(): NCHW [1,C,g,g]. The caller owns the result. */
  denseEmbeddingPositional(): tf.Tensor4D;
  /** The official PromptEncoder.forward. The caller owns both results. */
  encode(prompt: PromptInput, tap?: PromptEncoderTap): PromptEmbeddings;
}

const PE_KEY = 'pe_layer.positional_encoding_gaussian_matrix';

/**
 * tf.broadcastTo for a tensor that may be trained: broadcastTo runs the Tile kernel, whose gradient slices
 * dy once per repetition (b·g·g slices for the dense embedding); a broadcasting add of zeros gives exactly
 * the same values and a single reduce-sum gradient.
 */
export function broadcastParam(x: tf.Tensor, shape: number[]): tf.Tensor {
  return tf.add(tf.zeros(shape), x);
}

/** Accepts either the `prompt_encoder` scope or a whole-model store. */
function scoped(params: ParamStore): ParamStore {
  if (params.has(PE_KEY)) return params;
  const inner = params.scope('prompt_encoder');
  if (inner.has(PE_KEY)) return inner;
  throw new Error(`prompt encoder weights not found (expected ${PE_KEY})`);
}

/**
 * The official PromptEncoder (random-Fourier positional encoding, point/box token embeddings, mask
 * downscaling). `params` is the `prompt_encoder` scope (a whole-model store also works). Weights are owned
 * by the ParamStore (variables in its training mode); every op has a gradient, so masks may be trained
 * through.
 */
export function createPromptEncoder(cfg: SamConfig, params: ParamStore): PromptEncoder {
  const p = scoped(params);
  const embedDim = cfg.promptEmbedDim;
  const g = gridSize(cfg);
  const imageEmbeddingSize: [number, number] = [g, g];
  const inputImageSize: [number, number] = [cfg.imgSize, cfg.imgSize];

  const gaussian = p.raw(PE_KEY) as tf.Tensor2D; // [2, C/2]
  if (gaussian.shape[0] !== 2 || 2 * gaussian.shape[1] !== embedDim)
    throw new Error(`${PE_KEY} has shape [${gaussian.shape}], expected [2,${embedDim / 2}]`);
  const pointEmbed = [0, 1, 2, 3].map((k) => p.raw(`point_embeddings.${k}.weight`) as tf.Tensor2D); // [1,C] each
  const notAPoint = p.raw('not_a_point_embed.weight') as tf.Tensor2D;
  const noMask = p.raw('no_mask_embed.weight') as tf.Tensor2D;
  const down = {
    conv0: p.conv2d('mask_downscaling.0'),
    norm1: p.norm('mask_downscaling.1'),
    conv3: p.conv2d('mask_downscaling.3'),
    norm4: p.norm('mask_downscaling.4'),
    conv6: p.conv2d('mask_downscaling.6'),
  };

  /** coords already normalised to [0,1], [...,2] → [..., C] as [sin | cos]. */
  function peEncoding(coords: tf.Tensor): tf.Tensor {
    const lead = coords.shape.slice(0, -1);
    const c = tf.sub(tf.mul(coords, 2), 1);
    const proj = tf.mul(tf.matMul(tf.reshape(c, [-1, 2]), gaussian), 2 * Math.PI);
    const out = tf.concat([tf.sin(proj), tf.cos(proj)], -1);
    return tf.reshape(out, [...lead, embedDim]);
  }

  /** forward_with_coords: pixel coords (already +0.5) → PE; x over the input width, y over its height. */
  function peWithCoords(coords: tf.Tensor): tf.Tensor {
    const [h, w] = inputImageSize;
    return peEncoding(tf.div(coords, tf.tensor1d([w, h])));
  }

  function denseEmbeddingPositional(): tf.Tensor4D {
    return tf.tidy(() => {
      const [h, w] = imageEmbeddingSize;
      // Official: cumsum of ones − 0.5, i.e. exact (j + 0.5) and (i + 0.5), divided by the grid size.
      const xy = new Float32Array(h * w * 2);
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          xy[(i * w + j) * 2] = Math.fround(j + 0.5) / w;
          xy[(i * w + j) * 2 + 1] = Math.fround(i + 0.5) / h;
        }
      const pe = peEncoding(tf.tensor3d(xy, [h, w, 2])); // [h,w,C]
      return tf.expandDims(tf.transpose(pe, [2, 0, 1]), 0) as tf.Tensor4D;
    });
  }

  function embedPoints(coords: tf.Tensor3D, labels: tf.Tensor2D, pad: boolean): tf.Tensor3D {
    const [b] = coords.shape;
    let pts: tf.Tensor = tf.add(coords, 0.5);
    let lab: tf.Tensor = tf.cast(labels, 'float32'); // int32 labels are fine too
    if (pad) {
      // The official padding point (0,0)/−1 (appended after the +0.5 shift; its PE is discarded anyway).
      pts = tf.concat([pts, tf.zeros([b, 1, 2])], 1);
      lab = tf.concat([lab, tf.fill([b, 1], -1)], 1);
    }
    const n = pts.shape[1] as number;
    const pe = peWithCoords(pts); // [B,N,C]
    const full = [b, n, embedDim];
    const lab3 = tf.expandDims(lab, -1);
    // Label −1: the PE is replaced (not added to) by not_a_point_embed.
    let emb: tf.Tensor = tf.where(
      tf.broadcastTo(tf.equal(lab3, -1), full),
      broadcastParam(tf.reshape(notAPoint, [1, 1, embedDim]), full),
      pe,
    );
    // Labels 0/1 add point_embeddings[0/1]. Labels 2/3 add the box-corner embeddings, as the official ONNX
    // wrapper does (the PyTorch PromptEncoder never sees them). Any other label adds nothing.
    for (let k = 0; k < 4; k++)
      emb = tf.add(
        emb,
        tf.mul(tf.cast(tf.equal(lab3, k), 'float32'), tf.reshape(pointEmbed[k], [1, 1, embedDim])),
      );
    return emb as tf.Tensor3D;
  }

  function embedBoxes(boxes: tf.Tensor2D): tf.Tensor3D {
    const [b] = boxes.shape;
    const corners = tf.reshape(tf.add(boxes, 0.5), [b, 2, 2]);
    const pe = peWithCoords(corners); // [B,2,C]
    const cornerEmbed = tf.concat([pointEmbed[2], pointEmbed[3]], 0); // [2,C]
    return tf.add(pe, tf.expandDims(cornerEmbed, 0)) as tf.Tensor3D;
  }

  function embedMasks(masks: tf.Tensor4D, tap?: PromptEncoderTap): tf.Tensor4D {
    const eps = cfg.layerNorm2dEps;
    let x: tf.Tensor4D = nchwToNhwc(masks);
    x = gelu(layerNorm(conv2d(x, down.conv0, 2, 0), down.norm1, eps)) as tf.Tensor4D;
    if (tap) tap('mask_downscaling.2', nhwcToNchw(x));
    x = gelu(layerNorm(conv2d(x, down.conv3, 2, 0), down.norm4, eps)) as tf.Tensor4D;
    if (tap) tap('mask_downscaling.5', nhwcToNchw(x));
    x = conv2d(x, down.conv6, 1, 0);
    return nhwcToNchw(x);
  }

  function batchSize(prompt: PromptInput): number {
    if (prompt.points) return prompt.points.coords.shape[0];
    if (prompt.boxes) return prompt.boxes.shape[0];
    if (prompt.masks) return prompt.masks.shape[0];
    return 1;
  }

  function validate(prompt: PromptInput, b: number): void {
    const { points, boxes, masks } = prompt;
    if (points) {
      const [pb, n, two] = points.coords.shape;
      if (two !== 2) throw new Error(`point coords must be [B,N,2], got [${points.coords.shape}]`);
      if (points.labels.shape[0] !== pb || points.labels.shape[1] !== n)
        throw new Error(`point labels [${points.labels.shape}] do not match coords [${points.coords.shape}]`);
    }
    if (boxes && (boxes.shape[0] !== b || boxes.shape[1] !== 4))
      throw new Error(`boxes must be [${b},4], got [${boxes.shape}]`);
    const m = 4 * g;
    if (
      masks &&
      (masks.shape[0] !== b || masks.shape[1] !== 1 || masks.shape[2] !== m || masks.shape[3] !== m)
    )
      throw new Error(`masks must be NCHW [${b},1,${m},${m}], got [${masks.shape}]`);
  }

  function encode(prompt: PromptInput, tap?: PromptEncoderTap): PromptEmbeddings {
    const b = batchSize(prompt);
    validate(prompt, b);
    return tf.tidy(() => {
      const parts: tf.Tensor3D[] = [];
      if (prompt.points) parts.push(embedPoints(prompt.points.coords, prompt.points.labels, !prompt.boxes));
      if (prompt.boxes) parts.push(embedBoxes(prompt.boxes));
      const sparse: tf.Tensor3D =
        parts.length === 0 ? tf.zeros([b, 0, embedDim]) : parts.length === 1 ? parts[0] : tf.concat(parts, 1);
      const dense: tf.Tensor4D = prompt.masks
        ? embedMasks(prompt.masks, tap)
        : (broadcastParam(tf.reshape(noMask, [1, embedDim, 1, 1]), [b, embedDim, g, g]) as tf.Tensor4D);
      return { sparse, dense };
    });
  }

  return { embedDim, imageEmbeddingSize, inputImageSize, denseEmbeddingPositional, encode };
}
