import { tf } from '../sam/tf';
import { HostTensor, float32Tensor, shapeEquals } from '../tensor/host-tensor';

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Clip the gradients' global L2 norm to this value before the update (0 = off). Default 1. */
  clipNorm?: number;
}

export interface AdamStepStats {
  /** Global gradient norm before clipping (a tensor, so reading it is the caller's choice). */
  gradNorm: tf.Scalar;
}

/**
 * Adam (Kingma & Ba) with its state in plain view: first/second moments per named variable and the step
 * count, so a checkpoint can store them and a resumed run continues bit for bit (tf.train.adam keeps its
 * accumulators private and restores them only asynchronously). Bias correction uses β^t computed in double
 * precision from the step count; no hidden running products.
 */
export class Adam {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly clipNorm: number;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    private readonly vars: Map<string, tf.Variable>,
    opts: AdamOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.clipNorm = opts.clipNorm ?? 1;
    for (const [name, w] of vars) {
      this.m.set(name, tf.variable(tf.zerosLike(w), false));
      this.v.set(name, tf.variable(tf.zerosLike(w), false));
    }
  }

  /** Updates taken so far. */
  get step(): number {
    return this.t;
  }

  /**
   * One update with learning rate `lr`. `grads` maps official names to gradients (a missing one counts as
   * zero). The caller keeps ownership of `grads`; the returned gradNorm is the caller's to dispose.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): AdamStepStats {
    const t = this.t + 1;
    const gradNorm = tf.tidy(() => {
      const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
      const norm = tf.sqrt(squares.length ? tf.addN(squares) : tf.scalar(0)) as tf.Scalar;
      const scale = this.clipNorm > 0 ? tf.div(this.clipNorm, tf.maximum(norm, this.clipNorm)) : tf.scalar(1);
      const c1 = 1 - this.beta1 ** t;
      const c2 = 1 - this.beta2 ** t;
      for (const [name, w] of this.vars) {
        const g0 = grads.get(name);
        if (!g0) continue; // Adam with a zero gradient still decays the moments; frozen paths never get one.
        const g = tf.mul(g0, scale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), this.epsilon));
        m.assign(m1);
        v.assign(v1);
        w.assign(tf.sub(w, tf.mul(update, lr)));
      }
      return norm;
    });
    this.t = t;
    return { gradNorm };
  }

  /** Moments as host tensors (TF layout of each variable), keyed `m.<name>` / `v.<name>`. */
  state(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [kind, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, t] of map)
        out.set(
          `${kind}.${name}`,
          float32Tensor([...t.shape], Float32Array.from(t.dataSync() as Float32Array)),
        );
    return out;
  }

  /** Restores moments and step count saved by `state()` (every moment must be present with its shape). */
  restore(state: Map<string, HostTensor>, step: number): void {
    for (const [kind, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, t] of map) {
        const h = state.get(`${kind}.${name}`);
        if (!h) throw new Error(`optimizer state lacks ${kind}.${name}`);
        if (!shapeEquals(h.shape, t.shape))
          throw new Error(`optimizer state ${kind}.${name} has shape [${h.shape}], expected [${t.shape}]`);
        tf.tidy(() => t.assign(tf.tensor(h.data as Float32Array, t.shape, 'float32')));
      }
    this.t = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
