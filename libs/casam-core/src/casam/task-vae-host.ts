/**
 * TaskVAE training steps on typed arrays: the forward pass, its hand-derived backward pass and the Adam update
 * of trainTaskVae, without TensorFlow.js.
 *
 * Why hand-written: a TaskVAE is tiny (C = 64: 41k parameters in 10 tensors) and trains on batches of 6, so a
 * TF.js step is all dispatch: 363 kernels (forward, tape, backward, an Adam update of ~14 kernels per tensor) for
 * ~0.75 M multiply-adds. On the wasm backend that was 4.3 ms a step, and every task trains six VAEs of ≥ 150 steps
 * (the task's and τ's five folds): 8–10 s of each `site-agent train` in the demo, on 2 cores shared by 3 sites.
 * The same arithmetic in plain loops took about half (150 steps 946 → 500 ms, one wasm thread, the same load;
 * the demo's VAE + τ phases 10 → 4 s a task). The model (createTaskVae) and its scoring stay on
 * TF.js; only training runs here, and task-vae-host.spec.ts checks it step for step against the TF.js loss,
 * gradients and createAdam.
 *
 * Same math as TaskVae.loss + createAdam: z = μ + e^{logvar/2}·ε (ε drawn as TaskVae.loss draws it, normalArray
 * of [N, latent] from the epoch's noise rng), loss = mean over the batch of mean_c (x̂ − x)² + β·KL, exact GELU
 * (erf), PyTorch's Adam (eps added to √v̂). Activations and sums are float64, parameters and moments float32
 * (as stored by the tensors they replace); GELU, erf and e^x are host-math.ts's, which the fast router's scores
 * use too.
 */
import { StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { normalArray, type Rng } from '../random/seeded-random';
import { taskVaeDims, taskVaeLinears } from './casam-shapes';
import { AdamError } from './adam-optimizer';
import { erf, expOf, gelu } from './host-math';

/** One Linear in variable layout: w [in,out] row-major (x·w), b [out]. */
interface HostLinear {
  name: string;
  inDim: number;
  outDim: number;
  w: Float32Array;
  b: Float32Array;
}

export interface HostVaeTrainer {
  /** One Adam step on the rows `idx` of `x` ([N,C] row-major); returns the batch's loss. */
  step(x: Float32Array, idx: ArrayLike<number>, noise: Rng): number;
  /** The weights in the TaskVAE state-dict layout (`.weight` [out,in]). */
  stateDict(): StateDict;
  /** createAdam's state dict: `step`, `exp_avg.<name>` / `exp_avg_sq.<name>` in variable layout ([in,out]). */
  optimizerStateDict(): StateDict;
  loadOptimizerStateDict(sd: StateDict): void;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d GELU(v) / dv = Φ(v) + v·φ(v). */
function geluGrad(v: number): number {
  return 0.5 * (1 + erf(v * Math.SQRT1_2)) + v * INV_SQRT_2PI * expOf(-0.5 * v * v);
}

/** y[n,out] = x[n,in]·w + b. */
function dense(x: Float64Array, n: number, l: HostLinear, y: Float64Array): void {
  const { inDim: k, outDim: m, w, b } = l;
  for (let r = 0; r < n; r++) {
    const yo = r * m;
    for (let j = 0; j < m; j++) y[yo + j] = b[j];
    const xo = r * k;
    for (let i = 0; i < k; i++) {
      const xv = x[xo + i];
      if (xv === 0) continue;
      const wo = i * m;
      for (let j = 0; j < m; j++) y[yo + j] += xv * w[wo + j];
    }
  }
}

/** Accumulates dW[in,out] += xᵀ·dy, db += Σ dy, and (when dx is given) dx[n,in] = dy·wᵀ. */
function denseBackward(
  x: Float64Array,
  dy: Float64Array,
  n: number,
  l: HostLinear,
  dw: Float64Array,
  db: Float64Array,
  dx: Float64Array | null,
): void {
  const { inDim: k, outDim: m, w } = l;
  for (let r = 0; r < n; r++) {
    const yo = r * m;
    const xo = r * k;
    for (let j = 0; j < m; j++) db[j] += dy[yo + j];
    for (let i = 0; i < k; i++) {
      const xv = x[xo + i];
      const wo = i * m;
      let acc = 0;
      for (let j = 0; j < m; j++) {
        const g = dy[yo + j];
        dw[wo + j] += xv * g;
        acc += g * w[wo + j];
      }
      if (dx) dx[xo + i] = acc;
    }
  }
}

/**
 * A trainer over the weights `initial` (TaskVAE state-dict layout, checked by the caller) for features of width
 * `inputDim`, with Adam (lr, PyTorch defaults β 0.9/0.999, eps 1e-8) and KL weight `beta`.
 */
export function createHostVaeTrainer(
  inputDim: number,
  initial: StateDict,
  opts: { lr: number; beta: number },
): HostVaeTrainer {
  const dims = taskVaeDims(inputDim);
  const { lr, beta } = opts;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const layers: HostLinear[] = taskVaeLinears(dims).map(([name, inDim, outDim]) => {
    const wt = toFloat32(initial.get(`${name}.weight`)!); // [out,in]
    const w = new Float32Array(inDim * outDim);
    for (let o = 0; o < outDim; o++) for (let i = 0; i < inDim; i++) w[i * outDim + o] = wt[o * inDim + i];
    return { name, inDim, outDim, w, b: Float32Array.from(toFloat32(initial.get(`${name}.bias`)!)) };
  });
  const [enc0, fcMu, fcLogvar, dec0, dec2] = layers;
  // Adam moments in variable order (createAdam's over namedVariables: weight then bias per Linear).
  const params: { key: string; data: Float32Array }[] = layers.flatMap((l) => [
    { key: `${l.name}.weight`, data: l.w },
    { key: `${l.name}.bias`, data: l.b },
  ]);
  const m1 = params.map((p) => new Float32Array(p.data.length));
  const m2 = params.map((p) => new Float32Array(p.data.length));
  const grads = params.map((p) => new Float64Array(p.data.length));
  let t = 0;

  const { inputDim: c, hiddenDim: h, latentDim: lat } = dims;
  let cap = 0;
  let buf: Record<string, Float64Array> = {};
  const ensure = (n: number): void => {
    if (n <= cap) return;
    cap = n;
    const mk = (w: number): Float64Array => new Float64Array(n * w);
    buf = {
      x: mk(c),
      a: mk(h),
      hh: mk(h),
      mu: mk(lat),
      lv: mk(lat),
      eps: mk(lat),
      z: mk(lat),
      d: mk(h),
      g: mk(h),
      xhat: mk(c),
      dxhat: mk(c),
      dg: mk(h),
      dz: mk(lat),
      dmu: mk(lat),
      dlv: mk(lat),
      dh: mk(h),
      dh2: mk(h),
    };
  };

  function step(x: Float32Array, idx: ArrayLike<number>, noise: Rng): number {
    const n = idx.length;
    ensure(n);
    const b = buf;
    for (let r = 0; r < n; r++) for (let j = 0; j < c; j++) b.x[r * c + j] = x[idx[r] * c + j];
    const e = normalArray(n * lat, noise);
    for (let i = 0; i < n * lat; i++) b.eps[i] = e[i];

    // Forward.
    dense(b.x, n, enc0, b.a);
    for (let i = 0; i < n * h; i++) b.hh[i] = gelu(b.a[i]);
    dense(b.hh, n, fcMu, b.mu);
    dense(b.hh, n, fcLogvar, b.lv);
    for (let i = 0; i < n * lat; i++) b.z[i] = b.mu[i] + expOf(0.5 * b.lv[i]) * b.eps[i];
    dense(b.z, n, dec0, b.d);
    for (let i = 0; i < n * h; i++) b.g[i] = gelu(b.d[i]);
    dense(b.g, n, dec2, b.xhat);
    let loss = 0;
    for (let r = 0; r < n; r++) {
      let recon = 0;
      for (let j = 0; j < c; j++) {
        const diff = b.xhat[r * c + j] - b.x[r * c + j];
        recon += diff * diff;
      }
      let kl = 0;
      for (let k = 0; k < lat; k++) {
        const mu = b.mu[r * lat + k];
        const lv = b.lv[r * lat + k];
        kl += 1 + lv - mu * mu - expOf(lv);
      }
      loss += recon / c + beta * -0.5 * kl;
    }
    loss /= n;
    if (!Number.isFinite(loss)) throw new AdamError(`loss is ${loss}; not updating the weights`);

    // Backward (d loss / d each score is 1/n).
    for (const g of grads) g.fill(0);
    const [gEnc0W, gEnc0B, gMuW, gMuB, gLvW, gLvB, gDec0W, gDec0B, gDec2W, gDec2B] = grads;
    const sRecon = 2 / (c * n);
    for (let i = 0; i < n * c; i++) b.dxhat[i] = sRecon * (b.xhat[i] - b.x[i]);
    denseBackward(b.g, b.dxhat, n, dec2, gDec2W, gDec2B, b.dg);
    for (let i = 0; i < n * h; i++) b.dg[i] *= geluGrad(b.d[i]);
    denseBackward(b.z, b.dg, n, dec0, gDec0W, gDec0B, b.dz);
    const sKl = beta / n;
    for (let i = 0; i < n * lat; i++) {
      const sd = expOf(0.5 * b.lv[i]);
      b.dmu[i] = b.dz[i] + sKl * b.mu[i];
      b.dlv[i] = b.dz[i] * b.eps[i] * 0.5 * sd - 0.5 * sKl * (1 - sd * sd);
    }
    denseBackward(b.hh, b.dmu, n, fcMu, gMuW, gMuB, b.dh);
    denseBackward(b.hh, b.dlv, n, fcLogvar, gLvW, gLvB, b.dh2);
    for (let i = 0; i < n * h; i++) b.dh[i] = (b.dh[i] + b.dh2[i]) * geluGrad(b.a[i]);
    denseBackward(b.x, b.dh, n, enc0, gEnc0W, gEnc0B, null);

    // Adam (createAdam's rule).
    t++;
    const c1 = 1 - beta1 ** t;
    const c2 = 1 - beta2 ** t;
    params.forEach((p, k) => {
      const g = grads[k];
      const mk = m1[k];
      const vk = m2[k];
      const x = p.data;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i];
        mk[i] = beta1 * mk[i] + (1 - beta1) * gi;
        vk[i] = beta2 * vk[i] + (1 - beta2) * gi * gi;
        x[i] -= (mk[i] / c1 / (Math.sqrt(vk[i] / c2) + eps)) * lr;
      }
    });
    return loss;
  }

  return {
    step,
    stateDict(): StateDict {
      const sd: StateDict = new Map();
      for (const l of layers) {
        const wt = new Float32Array(l.inDim * l.outDim);
        for (let i = 0; i < l.inDim; i++)
          for (let o = 0; o < l.outDim; o++) wt[o * l.inDim + i] = l.w[i * l.outDim + o];
        sd.set(`${l.name}.weight`, float32Tensor([l.outDim, l.inDim], wt));
        sd.set(`${l.name}.bias`, float32Tensor([l.outDim], Float32Array.from(l.b)));
      }
      return sd;
    },
    optimizerStateDict(): StateDict {
      const sd: StateDict = new Map();
      sd.set('step', float32Tensor([1], Float32Array.of(t)));
      params.forEach((p, k) => {
        const l = layers[k >> 1];
        const shape = p.key.endsWith('.weight') ? [l.inDim, l.outDim] : [l.outDim];
        sd.set(`exp_avg.${p.key}`, float32Tensor(shape, Float32Array.from(m1[k])));
        sd.set(`exp_avg_sq.${p.key}`, float32Tensor(shape, Float32Array.from(m2[k])));
      });
      return sd;
    },
    loadOptimizerStateDict(sd: StateDict): void {
      const step = sd.get('step');
      const steps = step ? toFloat32(step)[0] : NaN;
      if (!Number.isInteger(steps) || steps < 0)
        throw new Error(`optimizer state: step must be a whole number, got ${steps}`);
      const loaded = params.map((p) => {
        const a = sd.get(`exp_avg.${p.key}`);
        const v = sd.get(`exp_avg_sq.${p.key}`);
        if (!a || !v) throw new Error(`optimizer state: missing exp_avg(_sq).${p.key}`);
        const [ad, vd] = [toFloat32(a), toFloat32(v)];
        if (ad.length !== p.data.length || vd.length !== p.data.length)
          throw new Error(`optimizer state: exp_avg(_sq).${p.key} has the wrong size`);
        return [ad, vd] as const;
      });
      loaded.forEach(([ad, vd], k) => {
        m1[k].set(ad);
        m2[k].set(vd);
      });
      t = steps;
    },
  };
}
