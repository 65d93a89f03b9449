/**
 * Adam with PyTorch's update rule (eps added to √v̂, bias-corrected moments), over named tf.Variables, with a
 * state dict so an interrupted training run resumes exactly. tf.train.adam differs (eps inside its own
 * formula, state only through async getWeights), hence this small one.
 */
import { tf } from '../sam/tf';
import { StateDict, float32Tensor, shapeEquals, toFloat32 } from '../tensor/host-tensor';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export interface AdamOptimizer {
  readonly lr: number;
  /** Updates taken so far. */
  readonly stepCount: number;
  /** Computes the loss and the gradients of every variable, updates them, returns the loss value. */
  minimize(loss: () => tf.Scalar): number;
  /** Applies precomputed gradients (by variable name as given at creation). */
  applyGradients(grads: Map<string, tf.Tensor>): void;
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
  if (!(lr > 0) || !Number.isFinite(lr)) throw new AdamError(`learning rate must be positive, got ${lr}`);
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
    c1: number,
    c2: number,
  ): void {
    const xd = Float32Array.from(x.dataSync() as Float32Array);
    const md = Float32Array.from(mi.dataSync() as Float32Array);
    const vd = Float32Array.from(vi.dataSync() as Float32Array);
    const step = lr / c1;
    for (let i = 0; i < xd.length; i++) {
      md[i] = beta1 * md[i] + (1 - beta1) * g[i];
      vd[i] = beta2 * vd[i] + (1 - beta2) * g[i] * g[i];
      xd[i] -= (step * md[i]) / (Math.sqrt(vd[i] / c2) + eps);
    }
    tf.tidy(() => {
      x.assign(tf.tensor(xd, x.shape, 'float32'));
      mi.assign(tf.tensor(md, mi.shape, 'float32'));
      vi.assign(tf.tensor(vd, vi.shape, 'float32'));
    });
  }

  function applyGradients(grads: Map<string, tf.Tensor>): void {
    for (const n of grads.keys()) if (!vars.has(n)) throw new AdamError(`gradient for unknown variable ${n}`);
    t++;
    const c1 = 1 - beta1 ** t;
    const c2 = 1 - beta2 ** t;
    // The pure-JS cpu backend broadcasts scalars through a per-element index loop (~5× the whole backward pass of
    // a TaskVAE step); its tensors live in host memory anyway, so update them with a plain loop there.
    if (tf.getBackend() === 'cpu') {
      for (const n of names) {
        const g = grads.get(n);
        if (g) updateOnHost(vars.get(n)!, m.get(n)!, v.get(n)!, g.dataSync() as Float32Array, c1, c2);
      }
      return;
    }
    tf.tidy(() => {
      for (const n of names) {
        const g = grads.get(n);
        if (!g) continue; // no gradient this step: PyTorch skips the parameter too
        const mi = m.get(n)!;
        const vi = v.get(n)!;
        mi.assign(tf.add(tf.mul(mi, beta1), tf.mul(g, 1 - beta1)));
        vi.assign(tf.add(tf.mul(vi, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const denom = tf.add(tf.sqrt(tf.div(vi, c2)), eps);
        const x = vars.get(n)!;
        x.assign(tf.sub(x, tf.div(tf.mul(mi, lr / c1), denom)));
      }
    });
  }

  return {
    lr,
    get stepCount() {
      return t;
    },
    minimize(loss: () => tf.Scalar): number {
      const list = names.map((n) => vars.get(n)!);
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
