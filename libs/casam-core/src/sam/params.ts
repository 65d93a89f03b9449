import { tf } from './tf';
import { StateDict, toFloat32 } from '../tensor/host-tensor';

/**
 * Turns official (PyTorch-layout) weights into tf tensors in the layout the TF.js ops want. Model code runs
 * NHWC internally, so conv weights are transposed once here, never per call.
 */
export class ParamStore {
  private readonly cache = new Map<string, tf.Tensor>();
  constructor(
    private readonly sd: StateDict,
    private readonly prefix = '',
  ) {}

  /** A view of the same store under a longer prefix; shares the cache. */
  scope(sub: string): ParamStore {
    const child = new ParamStore(this.sd, this.prefix + sub + '.');
    (child as unknown as { cache: Map<string, tf.Tensor> }).cache = this.cache;
    return child;
  }

  has(name: string): boolean {
    return this.sd.has(this.prefix + name);
  }

  private get(key: string, make: (data: Float32Array, shape: number[]) => tf.Tensor): tf.Tensor {
    const full = this.prefix + key;
    let t = this.cache.get(full + '#' + make.name);
    if (!t) {
      const h = this.sd.get(full);
      if (!h) throw new Error(`missing weight ${full}`);
      t = tf.tidy(() => make(toFloat32(h), h.shape));
      tf.keep(t);
      this.cache.set(full + '#' + make.name, t);
    }
    return t;
  }

  /** Any tensor as stored. */
  raw(name: string): tf.Tensor {
    return this.get(name, function raw(d, s) {
      return tf.tensor(d, s, 'float32');
    });
  }

  /** nn.Linear: weight [out,in] → [in,out]; bias [out] (zeros when absent). */
  linear(name: string): { w: tf.Tensor2D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', function linearW(d, s) {
      return tf.transpose(tf.tensor2d(d, s as [number, number]));
    }) as tf.Tensor2D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** nn.Conv2d: weight [out,in,kh,kw] → [kh,kw,in,out]. */
  conv2d(name: string): { w: tf.Tensor4D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', function conv2dW(d, s) {
      return tf.transpose(tf.tensor4d(d, s as [number, number, number, number]), [2, 3, 1, 0]);
    }) as tf.Tensor4D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** nn.ConvTranspose2d: weight [in,out,kh,kw] → tf.conv2dTranspose filter [kh,kw,out,in]. */
  convTranspose2d(name: string): { w: tf.Tensor4D; b: tf.Tensor1D | null } {
    const w = this.get(name + '.weight', function convTW(d, s) {
      return tf.transpose(tf.tensor4d(d, s as [number, number, number, number]), [2, 3, 1, 0]);
    }) as tf.Tensor4D;
    const b = this.has(name + '.bias') ? (this.raw(name + '.bias') as tf.Tensor1D) : null;
    return { w, b };
  }

  /** LayerNorm / LayerNorm2d affine parameters. */
  norm(name: string): { w: tf.Tensor1D; b: tf.Tensor1D } {
    return { w: this.raw(name + '.weight') as tf.Tensor1D, b: this.raw(name + '.bias') as tf.Tensor1D };
  }

  dispose(): void {
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
  }
}
