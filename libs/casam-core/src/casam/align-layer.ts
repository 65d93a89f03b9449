/**
 * CA-SAM Alignment Layer (`AlignCNN(num_layers=3, dim=C)`), trainable, in TensorFlow.js.
 *
 *   for each of 3 blocks:  x = CAResBlock(x);  x = LN(x)        — one LayerNorm2d shared by all three positions
 *   CAResBlock: r = x; x = conv3x3(relu(x)); x = conv3x3(relu(x)); x = x * ECA(x) + r
 *   ECA: w = sigmoid(conv1d_k(avgpool_hw(x) seen as a length-C signal)), zero padding k//2, no bias
 *
 * Weights live in `tf.Variable`s in TF layout (convs HWIO, run NHWC) so training never transposes them; the
 * state dict is in the PyTorch names and layout of the reference (`blocks.{i}.conv1.weight` [C,C,3,3], …).
 */
import { tf } from '../sam/tf';
import { conv2d, layerNorm, nchwToNhwc, nhwcToNchw } from '../sam/layers';
import { StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import {
  ALIGN_NUM_BLOCKS,
  alignmentStateDictSpec,
  assertChannels,
  ecaKernelSize,
  specParameterCount,
} from './casam-shapes';
import { createRng, uniformArray } from '../random/seeded-random';
import { checkStateDict } from './state-dict-check';

/** LayerNorm2d eps of the reference. */
export const ALIGN_LAYER_NORM_EPS = 1e-6;

export type EmbeddingLayout = 'NCHW' | 'NHWC';

/**
 * Receives intermediates during `forward`: `block{i}.conv1|conv2|block_out|after_norm` (in the input's layout)
 * and `block{i}.eca_pool|eca_conv|eca_weight` ([B,C]). The tensors die with the forward's tidy: read them
 * synchronously or `tf.keep` them.
 */
export type AlignTap = (name: string, t: tf.Tensor) => void;

export interface AlignForwardOptions {
  /** Layout of `x` and of the result. Default NCHW (SAM's embedding layout); the trainer may use NHWC. */
  layout?: EmbeddingLayout;
  tap?: AlignTap;
}

/** What the router hands the mask decoder: a trained Alignment Layer or the identity (plain frozen SAM). */
export interface EmbeddingTransform {
  readonly kind: 'alignment' | 'identity';
  /** Returns a new tensor (the caller disposes it), same shape and layout as `x`. */
  forward(x: tf.Tensor4D, opts?: AlignForwardOptions): tf.Tensor4D;
}

export interface AlignmentLayer extends EmbeddingTransform {
  readonly kind: 'alignment';
  readonly channels: number;
  readonly ecaKernelSize: number;
  /** Trainable variables in state-dict order. */
  readonly variables: readonly tf.Variable[];
  /** The variables by PyTorch name (TF layout values). */
  namedVariables(): Map<string, tf.Variable>;
  stateDict(): StateDict;
  /** Replaces every weight; throws `CasamStateDictError` (nothing changed) unless `sd` fits exactly. */
  loadStateDict(sd: StateDict): void;
  parameterCount(): number;
  dispose(): void;
}

export interface AlignmentLayerOptions {
  channels: number;
  /** Seed of the PyTorch-default initialisation (default 0). Ignored when `stateDict` is given. */
  seed?: number;
  /** Start from these weights instead of a fresh initialisation. */
  stateDict?: StateDict;
  /** Whether the variables take part in training (default true). */
  trainable?: boolean;
}

/** An input the Alignment Layer cannot run on. */
export class AlignmentInputError extends Error {
  override name = 'AlignmentInputError';
}

/** The identity transform: plain frozen SAM, the router's fallback. */
export const IDENTITY_ALIGNMENT: EmbeddingTransform = Object.freeze({
  kind: 'identity' as const,
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.clone(x);
  },
});

/**
 * PyTorch default initialisation in construction order: Conv2d weight and bias U(±1/√fan_in) (kaiming-uniform
 * with a=√5 reduces to that), ECA Conv1d weight U(±1/√k), LayerNorm weight 1 and bias 0.
 */
export function initialAlignmentStateDict(channels: number, seed = 0): StateDict {
  const rng = createRng(seed);
  const sd: StateDict = new Map();
  for (const { name, shape } of alignmentStateDictSpec(channels)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name === 'norm.weight') data = new Float32Array(n).fill(1);
    else if (name === 'norm.bias') data = new Float32Array(n);
    else if (name.endsWith('eca.weight')) data = uniformArray(n, 1 / Math.sqrt(shape[2]), rng);
    else data = uniformArray(n, 1 / Math.sqrt(channels * 9), rng); // conv weight or bias: fan_in = C·3·3
    sd.set(name, float32Tensor([...shape], data));
  }
  return sd;
}

/** PyTorch layout → TF layout of one tensor. */
function toTfLayout(name: string, shape: number[], data: Float32Array): tf.Tensor {
  if (name.endsWith('conv1.weight') || name.endsWith('conv2.weight'))
    return tf.transpose(tf.tensor4d(data, shape as [number, number, number, number]), [2, 3, 1, 0]); // HWIO
  if (name.endsWith('eca.weight')) return tf.tensor4d(data, [1, shape[2], 1, 1]); // conv2d filter over C
  return tf.tensor1d(data);
}

/** TF layout → PyTorch layout. */
function toTorchLayout(name: string, v: tf.Tensor): tf.Tensor {
  if (name.endsWith('conv1.weight') || name.endsWith('conv2.weight')) return tf.transpose(v, [3, 2, 0, 1]);
  if (name.endsWith('eca.weight')) return tf.reshape(v, [1, 1, v.shape[1] as number]);
  return tf.clone(v);
}

export function createAlignmentLayer(opts: AlignmentLayerOptions): AlignmentLayer {
  const channels = opts.channels;
  assertChannels(channels);
  const k = ecaKernelSize(channels);
  const spec = alignmentStateDictSpec(channels);
  const initial = opts.stateDict ?? initialAlignmentStateDict(channels, opts.seed ?? 0);
  checkStateDict(initial, spec, `Alignment Layer (C=${channels})`);
  const trainable = opts.trainable ?? true;

  const vars = new Map<string, tf.Variable>();
  for (const { name } of spec) {
    const h = initial.get(name)!;
    const t = tf.tidy(() => toTfLayout(name, h.shape, toFloat32(h)));
    vars.set(name, tf.variable(t, trainable));
    t.dispose();
  }
  let disposed = false;
  const v = (name: string): tf.Variable => vars.get(name)!;
  const norm = { w: v('norm.weight') as tf.Tensor1D, b: v('norm.bias') as tf.Tensor1D };
  const blocks = Array.from({ length: ALIGN_NUM_BLOCKS }, (_, i) => ({
    conv1: { w: v(`blocks.${i}.conv1.weight`) as tf.Tensor4D, b: v(`blocks.${i}.conv1.bias`) as tf.Tensor1D },
    conv2: { w: v(`blocks.${i}.conv2.weight`) as tf.Tensor4D, b: v(`blocks.${i}.conv2.bias`) as tf.Tensor1D },
    eca: v(`blocks.${i}.eca.weight`) as tf.Tensor4D,
  }));
  const ecaPad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [0, 0],
    [Math.floor(k / 2), Math.floor(k / 2)],
    [0, 0],
  ];

  function assertAlive(): void {
    if (disposed) throw new AlignmentInputError('this Alignment Layer has been disposed');
  }

  function forward(x: tf.Tensor4D, fo: AlignForwardOptions = {}): tf.Tensor4D {
    assertAlive();
    const layout = fo.layout ?? 'NCHW';
    if (layout !== 'NCHW' && layout !== 'NHWC')
      throw new AlignmentInputError(`layout must be NCHW or NHWC, got ${String(layout)}`);
    if (x.rank !== 4) throw new AlignmentInputError(`input must be rank 4 (${layout}), got [${x.shape}]`);
    const c = layout === 'NCHW' ? x.shape[1] : x.shape[3];
    if (c !== channels)
      throw new AlignmentInputError(
        `input has ${c} channels in ${layout} layout [${x.shape}]; this layer expects ${channels}`,
      );
    if (x.dtype !== 'float32') throw new AlignmentInputError(`input must be float32, got ${x.dtype}`);
    const tap = fo.tap;
    return tf.tidy(() => {
      const spatial = (name: string, t: tf.Tensor4D): void => {
        if (tap) tap(name, layout === 'NCHW' ? nhwcToNchw(t) : t);
      };
      let h: tf.Tensor4D = layout === 'NCHW' ? nchwToNhwc(x) : x;
      const [bsz] = h.shape;
      for (let i = 0; i < ALIGN_NUM_BLOCKS; i++) {
        const p = blocks[i];
        const r = h;
        let y = conv2d(tf.relu(h), p.conv1, 1, 1);
        spatial(`block${i}.conv1`, y);
        y = conv2d(tf.relu(y), p.conv2, 1, 1);
        spatial(`block${i}.conv2`, y);
        const pool = tf.mean(y, [1, 2]) as tf.Tensor2D;
        // The pooled [B,C] vector as a 1-channel "image" of width C: a 1×k conv2d is PyTorch's conv1d.
        const conv = tf.reshape(
          tf.conv2d(tf.reshape(pool, [bsz, 1, channels, 1]) as tf.Tensor4D, p.eca, 1, ecaPad),
          [bsz, channels],
        );
        const w = tf.sigmoid(conv);
        if (tap) {
          tap(`block${i}.eca_pool`, pool);
          tap(`block${i}.eca_conv`, conv);
          tap(`block${i}.eca_weight`, w);
        }
        y = tf.add(tf.mul(y, tf.reshape(w, [bsz, 1, 1, channels])), r);
        spatial(`block${i}.block_out`, y);
        h = layerNorm(y, norm, ALIGN_LAYER_NORM_EPS) as tf.Tensor4D;
        spatial(`block${i}.after_norm`, h);
      }
      return layout === 'NCHW' ? nhwcToNchw(h) : h;
    });
  }

  function stateDict(): StateDict {
    assertAlive();
    const sd: StateDict = new Map();
    for (const { name, shape } of spec) {
      const t = tf.tidy(() => toTorchLayout(name, v(name)));
      sd.set(name, float32Tensor([...shape], Float32Array.from(t.dataSync() as Float32Array)));
      t.dispose();
    }
    return sd;
  }

  function loadStateDict(sd: StateDict): void {
    assertAlive();
    checkStateDict(sd, spec, `Alignment Layer (C=${channels})`);
    for (const { name } of spec) {
      const h = sd.get(name)!;
      tf.tidy(() => v(name).assign(toTfLayout(name, h.shape, toFloat32(h))));
    }
  }

  return {
    kind: 'alignment',
    channels,
    ecaKernelSize: k,
    variables: [...vars.values()],
    namedVariables: () => new Map(vars),
    forward,
    stateDict,
    loadStateDict,
    parameterCount: () => specParameterCount(spec),
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const x of vars.values()) x.dispose();
    },
  };
}
