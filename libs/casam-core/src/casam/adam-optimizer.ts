/**
 * Adam with PyTorch's update rule (eps added to √v̂, bias-corrected moments; β^t in double precision from the step
 * count), over named tf.Variables, with a state dict so an interrupted training run resumes exactly, and optional
 * clipping of the gradients' global norm. tf.train.adam differs (eps inside its own formula, state only through
 * async getWeights), hence this small one. Alignment Layers, VAEs and the base model's pretraining all use it.
 */
import { ensureGradients, tf } from '../sam/tf';
import { StateDict, float32Tensor, shapeEquals, toFloat32 } from '../tensor/host-tensor';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Scale the gradients so their global L2 norm is at most this before each update (0, the default: off). */
  clipNorm?: number;
}

export interface AdamOptimizer {
  readonly lr: number;
  /** Updates taken so far. */
  readonly stepCount: number;
  /** Computes the loss and the gradients of every variable, updates them, returns the loss value. */
  minimize(loss: () => tf.Scalar): number;
  /** Applies precomputed gradients (by variable name as given at creation) at the optimizer's `lr`. */
  applyGradients(grads: Map<string, tf.Tensor>): void;
  /**
   * One update at learning rate `lr` (a schedule's value for this step) from precomputed gradients; returns
   * their global L2 norm before clipping, a scalar the caller disposes. The caller keeps `grads`.
   */
  applyGradientsAt(grads: Map<string, tf.Tensor>, lr: number): tf.Scalar;
  /** `step` [1] plus `exp_avg.<name>` / `exp_avg_sq.<name>` per variable (variable layout). */
  stateDict(): StateDict;
  loadStateDict(sd: StateDict): void;
  dispose(): void;
}

export class AdamError extends Error {
  override name = 'AdamError';
}

export function createAdam(vars: Map<string, tf.Variable>, opts: AdamOptions): AdamOptimizer {
  const { lr } = opts;
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const clipNorm = opts.clipNorm ?? 0;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new AdamError(`learning rate must be positive, got ${lr}`);
  if (!(clipNorm >= 0) || !Number.isFinite(clipNorm))
    throw new AdamError(`clipNorm must be 0 (off) or positive, got ${clipNorm}`);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw new AdamError(`betas must lie in [0, 1), got ${beta1}, ${beta2}`);
  if (!(eps > 0)) throw new AdamError(`eps must be positive, got ${eps}`);
  if (vars.size === 0) throw new AdamError('no variables to optimise');

  const names = [...vars.keys()];
  const m = new Map<string, tf.Variable>();
  const v = new Map<string, tf.Variable>();
  for (const n of names) {
    const x = vars.get(n)!;
    // tf.variable shares the initial tensor's data without taking ownership of the tensor object.
    const z = tf.zerosLike(x);
    m.set(n, tf.variable(z, false));
    v.set(n, tf.variable(z, false));
    z.dispose();
  }
  const byTfName = new Map(names.map((n) => [vars.get(n)!.name, n]));
  let t = 0;

  function updateOnHost(
    x: tf.Variable,
    mi: tf.Variable,
    vi: tf.Variable,
    g: Float32Array,
    scale: number,
    lrNow: number,
    c1: number,
    c2: number,
  ): void {
    const xd = Float32Array.from(x.dataSync() as Float32Array);
    const md = Float32Array.from(mi.dataSync() as Float32Array);
    const vd = Float32Array.from(vi.dataSync() as Float32Array);
    for (let i = 0; i < xd.length; i++) {
      const gi = g[i] * scale;
      md[i] = beta1 * md[i] + (1 - beta1) * gi;
      vd[i] = beta2 * vd[i] + (1 - beta2) * gi * gi;
      xd[i] -= (md[i] / c1 / (Math.sqrt(vd[i] / c2) + eps)) * lrNow;
    }
    tf.tidy(() => {
      x.assign(tf.tensor(xd, x.shape, 'float32'));
      mi.assign(tf.tensor(md, mi.shape, 'float32'));
      vi.assign(tf.tensor(vd, vi.shape, 'float32'));
    });
  }

  /** One update; the global gradient norm (before clipping) when asked for or needed for clipping. */
  function update(grads: Map<string, tf.Tensor>, lrNow: number, wantNorm: boolean): tf.Scalar | null {
    for (const n of grads.keys()) if (!vars.has(n)) throw new AdamError(`gradient for unknown variable ${n}`);
    if (!(lrNow >= 0) || !Number.isFinite(lrNow))
      throw new AdamError(`learning rate must be zero or positive, got ${lrNow}`);
    const step = t + 1;
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    // The pure-JS cpu backend broadcasts scalars through a per-element index loop (~5× the whole backward pass of
    // a TaskVAE step); its tensors live in host memory anyway, so update them with a plain loop there.
    if (tf.getBackend() === 'cpu') {
      const host = new Map([...grads].map(([n, g]) => [n, g.dataSync() as Float32Array]));
      let norm = 0;
      if (wantNorm || clipNorm > 0) {
        for (const g of host.values()) for (let i = 0; i < g.length; i++) norm += g[i] * g[i];
        norm = Math.sqrt(norm);
      }
      const scale = clipNorm > 0 ? clipNorm / Math.max(norm, clipNorm) : 1;
      for (const n of names) {
        const g = host.get(n);
        if (g) updateOnHost(vars.get(n)!, m.get(n)!, v.get(n)!, g, scale, lrNow, c1, c2);
      }
      t = step;
      return wantNorm || clipNorm > 0 ? tf.scalar(norm) : null;
    }
    const norm = tf.tidy((): tf.Scalar[] => {
      let n: tf.Scalar | null = null;
      let scale: tf.Scalar | null = null;
      if (wantNorm || clipNorm > 0) {
        const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
        n = tf.sqrt(squares.length ? tf.addN(squares) : tf.scalar(0)) as tf.Scalar;
        if (clipNorm > 0) scale = tf.div(clipNorm, tf.maximum(n, clipNorm)) as tf.Scalar;
      }
      for (const name of names) {
        const g0 = grads.get(name);
        if (!g0) continue; // no gradient this step: PyTorch skips the parameter too
        const g = scale ? tf.mul(g0, scale) : g0;
        const mi = m.get(name)!;
        const vi = v.get(name)!;
        const m1 = tf.add(tf.mul(mi, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(vi, beta2), tf.mul(tf.square(g), 1 - beta2));
        const delta = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), eps));
        mi.assign(m1);
        vi.assign(v1);
        const x = vars.get(name)!;
        x.assign(tf.sub(x, tf.mul(delta, lrNow)));
      }
      return n ? [n] : [];
    });
    t = step;
    return norm[0] ?? null;
  }

  function applyGradients(grads: Map<string, tf.Tensor>): void {
    update(grads, lr, false)?.dispose();
  }

  return {
    lr,
    get stepCount() {
      return t;
    },
    minimize(loss: () => tf.Scalar): number {
      const list = names.map((n) => vars.get(n)!);
      ensureGradients();
      const { value, grads } = tf.variableGrads(loss, list);
      try {
        const named = new Map<string, tf.Tensor>();
        for (const [k, g] of Object.entries(grads)) named.set(byTfName.get(k)!, g);
        const lossValue = value.dataSync()[0];
        if (!Number.isFinite(lossValue))
          throw new AdamError(`loss is ${lossValue}; not updating the weights`);
        applyGradients(named);
        return lossValue;
      } finally {
        tf.dispose([value, ...Object.values(grads)]);
      }
    },
    applyGradients,
    applyGradientsAt(grads: Map<string, tf.Tensor>, lrNow: number): tf.Scalar {
      return update(grads, lrNow, true)!;
    },
    stateDict(): StateDict {
      const sd: StateDict = new Map();
      sd.set('step', float32Tensor([1], Float32Array.of(t)));
      for (const n of names) {
        for (const [key, store] of [
          ['exp_avg', m],
          ['exp_avg_sq', v],
        ] as const) {
          const x = store.get(n)!;
          sd.set(`${key}.${n}`, float32Tensor([...x.shape], Float32Array.from(x.dataSync() as Float32Array)));
        }
      }
      return sd;
    },
    loadStateDict(sd: StateDict): void {
      const problems: string[] = [];
      const step = sd.get('step');
      if (!step || step.shape.length !== 1 || step.shape[0] !== 1) problems.push('missing or malformed step');
      const expected = new Set(['step']);
      for (const n of names) {
        for (const key of ['exp_avg', 'exp_avg_sq']) {
          const full = `${key}.${n}`;
          expected.add(full);
          const h = sd.get(full);
          if (!h) problems.push(`missing ${full}`);
          else if (!shapeEquals(h.shape, vars.get(n)!.shape))
            problems.push(`${full}: shape [${h.shape}] where [${vars.get(n)!.shape}] is expected`);
        }
      }
      for (const k of sd.keys()) if (!expected.has(k)) problems.push(`unexpected ${k}`);
      if (problems.length) throw new AdamError(`optimizer state does not fit:\n  ${problems.join('\n  ')}`);
      const steps = toFloat32(step!)[0];
      if (!Number.isInteger(steps) || steps < 0)
        throw new AdamError(`step must be a whole number, got ${steps}`);
      t = steps;
      for (const n of names) {
        const a = sd.get(`exp_avg.${n}`)!;
        const b = sd.get(`exp_avg_sq.${n}`)!;
        tf.tidy(() => {
          m.get(n)!.assign(tf.tensor(toFloat32(a), a.shape));
          v.get(n)!.assign(tf.tensor(toFloat32(b), b.shape));
        });
      }
    },
    dispose(): void {
      for (const x of [...m.values(), ...v.values()]) x.dispose();
      m.clear();
      v.clear();
    },
  };
}
