import { tf } from './tf';
import { StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';

/**
 * How a cached tensor's TF layout relates to the official PyTorch layout. `perm` turns the PyTorch tensor into
 * the TF one; its inverse turns it back (used by `stateDict()`).
 */
type Layout = 'raw' | 'linearW' | 'conv2dW' | 'convTW';
const LAYOUT_PERM: Record<Layout, number[] | null> = {
  raw: null,
  // [out,in] → [in,out]
  linearW: [1, 0],
  // Conv2d [out,in,kh,kw] → [kh,kw,in,out]
  conv2dW: [2, 3, 1, 0],
  // ConvTranspose2d [in,out,kh,kw] → [kh,kw,out,in]
  convTW: [2, 3, 1, 0],
};

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

export interface ParamStoreOptions {
  /**
   * Training mode: every cached TF-layout tensor is itself a `tf.Variable`, created from the state dict once,
   * so an optimizer updates exactly the tensors the model computes with (see `trainableVariables`).
   */
  trainable?: boolean;
  /**
   * Official names that stay frozen in training mode (non-trainable variables). Default: the prompt
   * encoder's random-Fourier matrix, which the official code registers as a buffer, not a parameter.
   */
  frozen?: (name: string) => boolean;
}

/** A weight asked for in two different layouts in training mode (there would be two diverging copies). */
export class ParamLayoutError extends Error {
  override name = 'ParamLayoutError';
}

interface Entry {
  /** Official (full) name. */
  name: string;
  layout: Layout;
  tensor: tf.Tensor;
}

interface Shared {
  cache: Map<string, Entry>;
  /** Official name → layout, to refuse a second layout of the same weight in training mode. */
  layouts: Map<string, Layout>;
  trainable: boolean;
  frozen: (name: string) => boolean;
}

const isPeBuffer = (name: string): boolean => name.endsWith('positional_encoding_gaussian_matrix');

/**
 * Turns official (PyTorch-layout) weights into tf tensors in the layout the TF.js ops want. Model code runs
 * NHWC internally, so conv weights are transposed once here, never per call.
 *
 * Training design. Gradients only reach tensors the forward pass *computes from* under the tape; a tensor
 * derived from a variable at build time (a transpose, a split) is a constant to the optimizer. So in
 * training mode (`ParamStore.trainable`) the cached TF-layout tensors are themselves the `tf.Variable`s —
 * the transposes happen once, when the variable is created, and never again. Model code that used to derive
 * further constants at build time (the ViT attention's q/k/v split and transposed rel-pos tables) checks
 * `isTrainable` and derives them inside its forward instead, where the tape sees them. `stateDict()` maps
 * the variables back to the official names and PyTorch layouts (inverse transposes), so a trained model
 * exports to a checkpoint that `validateStateDict` / `loadSamWeights` accept unchanged. Inference mode keeps
 * plain tensors and is unchanged.
 */
export class ParamStore {
  private shared: Shared;

  constructor(
    private readonly sd: StateDict,
    private readonly prefix = '',
    opts: ParamStoreOptions = {},
  ) {
    this.shared = {
      cache: new Map(),
      layouts: new Map(),
      trainable: opts.trainable ?? false,
      frozen: opts.frozen ?? isPeBuffer,
    };
  }

  /** A store whose weights are `tf.Variable`s (see the class comment). */
  static trainable(sd: StateDict, opts: Omit<ParamStoreOptions, 'trainable'> = {}): ParamStore {
    return new ParamStore(sd, '', { ...opts, trainable: true });
  }

  /** A view of the same store under a longer prefix; shares the cache. */
  scope(sub: string): ParamStore {
    const child = new ParamStore(this.sd, this.prefix + sub + '.');
    child.shared = this.shared;
    return child;
  }

  /** Whether the weights are variables that forwards must use directly (no derived constants). */
  get isTrainable(): boolean {
    return this.shared.trainable;
  }

  has(name: string): boolean {
    return this.sd.has(this.prefix + name);
  }

  private get(key: string, layout: Layout): tf.Tensor {
    const full = this.prefix + key;
    const cacheKey = full + '#' + layout;
    const hit = this.shared.cache.get(cacheKey);
    if (hit) return hit.tensor;
    const h = this.sd.get(full);
    if (!h) throw new Error(`missing weight ${full}`);
    const { trainable, layouts, frozen } = this.shared;
    if (trainable) {
      const other = layouts.get(full);
      if (other !== undefined && other !== layout)
        throw new ParamLayoutError(`weight ${full} requested as ${layout} after ${other} in training mode`);
    }
    const perm = LAYOUT_PERM[layout];
    let t = tf.tidy(() => {
      const pt = tf.tensor(toFloat32(h), h.shape, 'float32');
      return perm ? tf.transpose(pt, perm) : pt;
    });
    if (trainable) {
      const v = tf.variable(t, !frozen(full));
      t.dispose();
      t = v;
    } else tf.keep(t);
    this.shared.cache.set(cacheKey, { name: full, layout, tensor: t });
    layouts.set(full, layout);
    return t;
  }

  /** Any tensor as stored. */
  raw(name: string): tf.Tensor {
    return this.get(name, 'raw');
  }

  /** nn.Linear: weight [out,in] → [in,out]; bias [out] (zeros when absent). */
  linear(name: string): { w: tf.Tensor2D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', 'linearW') as tf.Tensor2D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** nn.Conv2d: weight [out,in,kh,kw] → [kh,kw,in,out]. */
  conv2d(name: string): { w: tf.Tensor4D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', 'conv2dW') as tf.Tensor4D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** nn.ConvTranspose2d: weight [in,out,kh,kw] → tf.conv2dTranspose filter [kh,kw,out,in]. */
  convTranspose2d(name: string): { w: tf.Tensor4D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', 'convTW') as tf.Tensor4D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** LayerNorm / LayerNorm2d affine parameters. */
  norm(name: string): { w: tf.Tensor1D; b: tf.Tensor1D } {
    return { w: this.raw(name + '.weight') as tf.Tensor1D, b: this.raw(name + '.bias') as tf.Tensor1D };
  }

  /**
   * Training mode: the trainable variables the model has fetched so far, by official name, in fetch order
   * (build the model first). Frozen weights are left out.
   */
  trainableVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    if (!this.shared.trainable) return out;
    for (const e of this.shared.cache.values()) {
      const v = e.tensor as tf.Variable;
      if (v.trainable) out.set(e.name, v);
    }
    return out;
  }

  /**
   * The current weights under their official names and PyTorch layouts (float32, copied off the backend).
   * Weights the model never fetched are returned as given. Order: that of the source state dict.
   */
  stateDict(): StateDict {
    const byName = new Map<string, Entry>();
    for (const e of this.shared.cache.values()) byName.set(e.name, e);
    const out: StateDict = new Map();
    for (const [name, h] of this.sd) {
      const e = byName.get(name);
      if (!e) {
        out.set(name, float32Tensor([...h.shape], Float32Array.from(toFloat32(h))));
        continue;
      }
      const perm = LAYOUT_PERM[e.layout];
      const data = tf.tidy(() => (perm ? tf.transpose(e.tensor, inversePerm(perm)) : tf.clone(e.tensor)));
      const values = data.dataSync() as Float32Array;
      out.set(name, float32Tensor([...data.shape], Float32Array.from(values)));
      data.dispose();
    }
    return out;
  }

  dispose(): void {
    for (const e of this.shared.cache.values()) e.tensor.dispose();
    this.shared.cache.clear();
    this.shared.layouts.clear();
  }
}
