/**
 * The router (attention pooling + every task's VAE score, see router.ts) as plain code on typed arrays, its
 * dense layers on a WebAssembly SIMD kernel (simd-dense.ts).
 *
 * Why not TF.js: routing one image is ~0.4 M multiply-adds for 9 tasks on a 64-channel embedding, so its cost
 * under TF.js is almost all per-op dispatch (pooling ~8 ops, each VAE ~25 ops, one dataSync per task): plain
 * loops are 30–60× faster (bench/routing.bench.ts). Why not an ONNX graph: the same maths as one ORT graph (all
 * tasks in one run) measured on par with plain JS loops (0.8–1.1× at casam-tiny and casam-small sizes), and the
 * loops need no export or session and use one thread instead of ORT's pool. Why the SIMD kernel: V8 does not
 * vectorise JS loops; the hand-written f32x4 kernel does a 64→128 layer ~10× faster than the best JS loop
 * (4-way unrolled, float64), which takes the 9 VAE scores from ~0.6 ms to well under 0.1 ms, next to an ORT
 * encoder that embeds a casam-tiny image in ~5 ms. Where WebAssembly SIMD is missing (or a width is not a
 * multiple of 4) the plain-JS loops run instead (`kernel: 'js'` forces them).
 *
 * Same maths as the TF.js router: s(p) = ‖z[:,p]‖₂/C, a = softmax(s/T), f = Σ_p a(p)·z[:,p]; the VAE with z = μ,
 * score = mean_d (x̂ − x)² + β·KL. The SIMD kernel sums products in float32 like TF.js and ORT; the
 * reconstruction error, the KL, the pooling's norms' roots and softmax, and GELU are computed in float64 (on the
 * kernel's f64x2 lanes, or in JS), GELU's results stored as float32. The spec holds the scores to 1e-5 relative of
 * TF.js's and the decisions identical, on both kernels.
 *
 * Speed (issue 18, routing ≤ 2% of the encoder): a router over SIMD-kernel VAEs keeps all tasks in one kernel
 * memory and scores them together (createBatchedScorer: one stacked first layer, weights in column blocks, GELU
 * on the kernel, no per-call checks, no feature copies), and e^x in JS comes from expNeg's tables instead of
 * Math.exp (a call into fdlibm in V8). Measured side by side against the per-task version 147eb14
 * (bench/fast-router.bench.ts, 9 tasks, [1,64,16,16], 3000 alternating passes, shared 2-core machine at load
 * ~6): route p50 1.37–1.58× faster, p99 1.46–2.19×; [1,64,32,32] p50 1.32×; scores identical.
 */
import { HostTensor, StateDict, toFloat32 } from '../tensor/host-tensor';
import { taskVaeDims, taskVaeLinears } from './casam-shapes';
import {
  DEFAULT_ROUTING_RULE,
  RouteResult,
  RouterError,
  RouterTask,
  RoutingRule,
  TaskScore,
  checkRouterSetup,
  decide,
} from './router';
import { VAE_BETA } from './task-vae';
import { columnBlocks8, createSimdDense, simdDenseAvailable } from './simd-dense';
import { expNeg, expOf, gelu } from './host-math';

/** Which code computes the dense layers: the WebAssembly SIMD kernel, or plain JS loops. */
export type FastRouterKernel = 'wasm-simd' | 'js';

/**
 * One Linear layer in PyTorch layout: W [out,in] row-major, so each output is a dot over a contiguous row.
 * Float64Array throughout (weights, inputs, scratch): every array the hot loops touch has one element kind, which
 * keeps V8's element access monomorphic; mixing Float32Array and Float64Array inputs made the loops ~2× slower.
 */
interface DenseLayer {
  readonly inDim: number;
  readonly outDim: number;
  readonly w: Float64Array;
  readonly b: Float64Array;
}

/** A TaskVAE's weights as typed arrays, plus the scratch buffers one score needs (allocated once). */
export interface FastTaskVae {
  readonly kernel: FastRouterKernel;
  readonly inputDim: number;
  readonly hiddenDim: number;
  readonly latentDim: number;
  readonly beta: number;
  /** Deterministic score (z = μ) of one feature vector [C]. */
  score(f: Float32Array): number;
}

/** Whether the SIMD kernel runs here and fits these widths (each a multiple of 4). */
function useSimd(kernel: FastRouterKernel | undefined, ...dims: number[]): boolean {
  return kernel !== 'js' && dims.every((d) => d % 4 === 0) && simdDenseAvailable();
}

/**
 * A TaskVAE from its PyTorch-layout state dict (the adapter file's `vae` part). `kernel` 'js' forces the plain-JS
 * loops; by default the SIMD kernel runs where it can.
 */
export function createFastTaskVae(
  sd: StateDict,
  inputDim: number,
  beta = VAE_BETA,
  opts: { kernel?: FastRouterKernel } = {},
): FastTaskVae {
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new RouterError(`beta must be ≥ 0, got ${beta}`);
  const dims = taskVaeDims(inputDim);
  const layers = new Map<string, DenseLayer>();
  for (const [name, i, o] of taskVaeLinears(dims)) {
    const w = sd.get(`${name}.weight`);
    const b = sd.get(`${name}.bias`);
    if (!w || !b) throw new RouterError(`TaskVAE (C=${inputDim}): ${name} is missing from the state dict`);
    if (
      w.shape.length !== 2 ||
      w.shape[0] !== o ||
      w.shape[1] !== i ||
      b.shape.length !== 1 ||
      b.shape[0] !== o
    )
      throw new RouterError(
        `TaskVAE (C=${inputDim}): ${name} is [${w.shape}]+[${b.shape}], expected [${o},${i}]+[${o}]`,
      );
    // Copies: the state dict stays the caller's, and these must not change under a running router.
    layers.set(name, {
      inDim: i,
      outDim: o,
      w: Float64Array.from(toFloat32(w)),
      b: Float64Array.from(toFloat32(b)),
    });
  }
  const enc0 = layers.get('encoder.0')!;
  const fcMu = layers.get('fc_mu')!;
  const fcLogvar = layers.get('fc_logvar')!;
  const dec0 = layers.get('decoder.0')!;
  const dec2 = layers.get('decoder.2')!;
  if (useSimd(opts.kernel, dims.inputDim, dims.hiddenDim, dims.latentDim))
    return simdTaskVae(dims, beta, enc0, fcMu, fcLogvar, dec0, dec2);
  // Float64 scratch: intermediates keep the float64 sums instead of rounding to float32 at every layer.
  const x = new Float64Array(dims.inputDim);
  const h = new Float64Array(dims.hiddenDim);
  const mu = new Float64Array(dims.latentDim);
  const logvar = new Float64Array(dims.latentDim);
  const hd = new Float64Array(dims.hiddenDim);
  return {
    kernel: 'js',
    inputDim: dims.inputDim,
    hiddenDim: dims.hiddenDim,
    latentDim: dims.latentDim,
    beta,
    score(f: Float32Array): number {
      if (f.length !== inputDim)
        throw new RouterError(`feature has ${f.length} values, the VAE takes ${inputDim}`);
      for (let d = 0; d < x.length; d++) x[d] = f[d];
      dense(enc0, x, h);
      for (let k = 0; k < h.length; k++) h[k] = gelu(h[k]);
      dense(fcMu, h, mu);
      dense(fcLogvar, h, logvar);
      dense(dec0, mu, hd);
      for (let k = 0; k < hd.length; k++) hd[k] = gelu(hd[k]);
      // x̂ is consumed as it is produced: recon needs only (x̂_d − x_d)².
      let recon = 0;
      const w = dec2.w;
      for (let o = 0; o < dec2.outDim; o++) {
        const d = dot(w, o * dec2.inDim, hd, dec2.inDim) + dec2.b[o] - x[o];
        recon += d * d;
      }
      recon /= dec2.outDim;
      let klSum = 0;
      for (let k = 0; k < mu.length; k++) klSum += 1 + logvar[k] - mu[k] * mu[k] - expOf(logvar[k]);
      return recon + beta * (-0.5 * klSum);
    },
  };
}

/**
 * Where each FastTaskVae built on the SIMD kernel keeps its weights (float offsets into its kernel's memory `f32`:
 * encoder.0, fc_mu‖fc_logvar stacked, decoder.0, decoder.2), so a router can copy all its tasks into one memory.
 */
interface SimdVaeLayers {
  readonly dims: { inputDim: number; hiddenDim: number; latentDim: number };
  readonly beta: number;
  readonly f32: Float32Array;
  readonly layers: readonly { readonly w: number; readonly b: number }[];
}
const simdVaeLayers = new WeakMap<FastTaskVae, SimdVaeLayers>();

/**
 * The same score with every dense layer and GELU on the SIMD kernel: weights, biases and scratch in the kernel's
 * memory (fc_mu and fc_logvar stacked into one [2L,H] layer), reconstruction error and KL by the kernel's
 * `score` (float64, the same maths as the JS score above).
 * A router whose VAEs all come from here scores them all in one memory instead (createBatchedScorer).
 */
function simdTaskVae(
  dims: { inputDim: number; hiddenDim: number; latentDim: number },
  beta: number,
  enc0: DenseLayer,
  fcMu: DenseLayer,
  fcLogvar: DenseLayer,
  dec0: DenseLayer,
  dec2: DenseLayer,
): FastTaskVae {
  const { inputDim: c, hiddenDim: h, latentDim: l } = dims;
  let size = 0;
  const alloc = (n: number): number => {
    const at = size;
    size += Math.ceil(n / 4) * 4;
    return at;
  };
  const place = (...ls: DenseLayer[]) => {
    const w = alloc(ls.reduce((n, x) => n + x.w.length, 0));
    const b = alloc(ls.reduce((n, x) => n + x.b.length, 0));
    return { w, b, parts: ls };
  };
  const layout = [place(enc0), place(fcMu, fcLogvar), place(dec0), place(dec2)];
  const [xAt, hAt, mlAt, hdAt, yAt] = [alloc(c), alloc(h), alloc(2 * l), alloc(h), alloc(c)];
  const k = createSimdDense(size)!;
  const m = k.f32; // the memory never grows after this
  for (const { w, b, parts } of layout) {
    let wi = w;
    let bi = b;
    for (const p of parts) {
      m.set(p.w, wi);
      m.set(p.b, bi);
      wi += p.w.length;
      bi += p.b.length;
    }
  }
  const [e, ml, d0, d2] = layout;
  const vae: FastTaskVae = {
    kernel: 'wasm-simd',
    inputDim: c,
    hiddenDim: h,
    latentDim: l,
    beta,
    score(f: Float32Array): number {
      if (f.length !== c) throw new RouterError(`feature has ${f.length} values, the VAE takes ${c}`);
      m.set(f, xAt);
      k.dense(e.w, e.b, xAt, hAt, c, h);
      k.raw.gelu(hAt * 4, h);
      k.dense(ml.w, ml.b, hAt, mlAt, h, 2 * l);
      k.dense(d0.w, d0.b, mlAt, hdAt, l, h);
      k.raw.gelu(hdAt * 4, h);
      k.dense(d2.w, d2.b, hdAt, yAt, h, c);
      return k.raw.score(xAt * 4, yAt * 4, mlAt * 4, c, l, beta);
    },
  };
  simdVaeLayers.set(vae, { dims, beta, f32: m, layers: layout.map(({ w, b }) => ({ w, b })) });
  return vae;
}

/**
 * Pooling and every task's score in ONE kernel memory, for a router whose VAEs all run on the SIMD kernel (so
 * all have the router's widths): all tasks' first layers (they all read the same pooled feature) stacked into
 * one [T·H, C] matrix-vector product and one GELU call over its T·H outputs, the weights in column blocks for
 * the kernel's `densec` (the same sums as `dense`, bit for bit, fewer instructions), the pooled feature written by the
 * pooling straight into the VAEs' input slot (no copy out and back in), the kernel called without its per-call
 * checks (the layout is fixed here, once), and one weight memory instead of one per task. Each row is summed
 * exactly as in simdTaskVae's score (the kernel's rows are independent), GELU, the reconstruction error and the
 * KL are the same kernel functions, so the scores are the same numbers (bench/fast-router.bench.ts checks this
 * against the previous revision: identical on its inputs).
 * Layout (floats): weights and biases, then x [C] | h [T·H] | μ‖logvar [2L] | h_d [H] | x̂ [C] | zero [C] |
 * a [HW] | the softmax's float64 scratch [HW doubles] | Z [C·HW], Z last so that a larger embedding only grows the
 * memory's end. The pooling's softmax runs on the kernel too (`softmax`, the same float64 maths as
 * softmaxOfNorms), so a route crosses into JS only between kernel calls.
 */
function createBatchedScorer(all: readonly SimdVaeLayers[]) {
  const { inputDim: c, hiddenDim: h, latentDim: l } = all[0].dims;
  const t = all.length;
  let size = 0;
  const alloc = (n: number): number => {
    const at = size;
    size += Math.ceil(n / 4) * 4;
    return at;
  };
  const e0W = alloc(t * h * c);
  const e0B = alloc(t * h);
  const per = all.map(() => ({
    mlW: alloc(2 * l * h),
    mlB: alloc(2 * l),
    d0W: alloc(h * l),
    d0B: alloc(h),
    d2W: alloc(c * h),
    d2B: alloc(c),
  }));
  const [xAt, hAt, mlAt, hdAt, yAt, zeroAt] = [
    alloc(c),
    alloc(t * h),
    alloc(2 * l),
    alloc(h),
    alloc(c),
    alloc(c),
  ];
  const aAt = size;
  const k = createSimdDense(size + 4)!;
  let m = k.f32;
  // Weights in column blocks of 8 rows for `densec` (same sums, fewer instructions) where every width allows.
  const cols = [h, 2 * l, c].every((n) => n % 8 === 0);
  all.forEach(({ f32: from, layers: [e, ml, d0, d2] }, i) => {
    const copy = (src: number, n: number, to: number) => m.set(from.subarray(src, src + n), to);
    const copyW = (src: number, inDim: number, outDim: number, to: number) =>
      cols ? columnBlocks8(from, src, m, to, inDim, outDim) : copy(src, inDim * outDim, to);
    const p = per[i];
    copyW(e.w, c, h, e0W + i * h * c);
    copy(e.b, h, e0B + i * h);
    copyW(ml.w, h, 2 * l, p.mlW);
    copy(ml.b, 2 * l, p.mlB);
    copyW(d0.w, l, h, p.d0W);
    copy(d0.b, h, p.d0B);
    copyW(d2.w, h, c, p.d2W);
    copy(d2.b, c, p.d2B);
  });
  const { sumsq, gelu, score, softmax } = k.raw;
  const dense = cols ? k.raw.densec : k.raw.dense;
  const B = 4; // bytes per float
  const betas = all.map((v) => v.beta);
  const out = new Float64Array(t);
  return {
    /** The pooled feature's slot, [C], in the kernel's current memory (re-read after `pool`). */
    feature(): Float32Array {
      return m.subarray(xAt, xAt + c);
    },
    /** Pools one NCHW embedding's data [C·HW] into the feature slot; false where HW is not a multiple of 4. */
    pool(z: Float32Array, hw: number, temperature: number): boolean {
      if (hw % 4 !== 0) return false;
      const eAt = aAt + hw; // the softmax's float64 scratch [hw], 16-byte aligned (hw a multiple of 4)
      const zAt = eAt + 2 * hw;
      k.ensure(zAt + c * hw);
      m = k.f32;
      m.set(z, zAt);
      m.fill(0, aAt, aAt + hw);
      sumsq(zAt * B, aAt * B, c, hw);
      softmax(aAt * B, eAt * B, hw, c, temperature);
      k.raw.dense(zAt * B, zeroAt * B, aAt * B, xAt * B, hw, c); // Z as given, row-major
      return true;
    },
    /** Every task's score of the feature in the feature slot, in task order (a reused array). */
    scores(): Float64Array {
      dense(e0W * B, e0B * B, xAt * B, hAt * B, c, t * h);
      gelu(hAt * B, t * h);
      for (let i = 0; i < t; i++) {
        const p = per[i];
        dense(p.mlW * B, p.mlB * B, (hAt + i * h) * B, mlAt * B, h, 2 * l);
        dense(p.d0W * B, p.d0B * B, mlAt * B, hdAt * B, l, h);
        gelu(hdAt * B, h);
        dense(p.d2W * B, p.d2B * B, hdAt * B, yAt * B, h, c);
        out[i] = score(xAt * B, yAt * B, mlAt * B, c, l, betas[i]);
      }
      return out;
    },
  };
}

/** y = W·x + b for one vector. */
function dense(l: DenseLayer, x: Float64Array, y: Float64Array): void {
  for (let o = 0; o < l.outDim; o++) y[o] = dot(l.w, o * l.inDim, x, l.inDim) + l.b[o];
}

/** w[row..row+n) · x, four independent partial sums so the adds pipeline (n is a multiple of 4 here; the tail is handled). */
function dot(w: Float64Array, row: number, x: Float64Array, n: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    a0 += w[row + i] * x[i];
    a1 += w[row + i + 1] * x[i + 1];
    a2 += w[row + i + 2] * x[i + 2];
    a3 += w[row + i + 3] * x[i + 3];
  }
  for (; i < n; i++) a0 += w[row + i] * x[i];
  return a0 + a1 + a2 + a3;
}

/**
 * The attention weights of the pooling, in place and in float64: `s` holds each position's squared norm over the C
 * channels on entry and softmax(‖z_p‖ / C / temperature) over the `hw` positions on return.
 */
function softmaxOfNorms(s: Float64Array, hw: number, c: number, temperature: number): void {
  let max = -Infinity;
  for (let p = 0; p < hw; p++) {
    s[p] = Math.sqrt(s[p]) / c / temperature;
    if (s[p] > max) max = s[p];
  }
  let sum = 0;
  for (let p = 0; p < hw; p++) {
    s[p] = expNeg(max - s[p]);
    sum += s[p];
  }
  for (let p = 0; p < hw; p++) s[p] /= sum;
}

/**
 * Attention pooling of one NCHW embedding (data of [1,C,H,W]) into `out` [C] (allocated when not given).
 * Throws on a size mismatch or a non-positive temperature.
 */
export function attentionPoolNchw(
  z: Float32Array,
  c: number,
  hw: number,
  temperature = 1,
  out: Float32Array = new Float32Array(c),
): Float32Array {
  if (z.length !== c * hw) throw new RouterError(`embedding has ${z.length} values, expected ${c}·${hw}`);
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw new RouterError(`temperature must be a positive finite number, got ${temperature}`);
  if (out.length !== c) throw new RouterError(`output has ${out.length} slots, expected ${c}`);
  // Channel-major sweeps keep every read contiguous in NCHW.
  const s = new Float64Array(hw);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * hw;
    for (let p = 0; p < hw; p++) {
      const v = z[base + p];
      s[p] += v * v;
    }
  }
  softmaxOfNorms(s, hw, c, temperature);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * hw;
    let acc = 0;
    for (let p = 0; p < hw; p++) acc += s[p] * z[base + p];
    out[ch] = acc;
  }
  return out;
}

export interface FastRouterTask {
  taskId: string;
  /** Built by createFastTaskVae or fastTaskVaeOf. */
  vae: FastTaskVae;
  tau: number;
  tauStats?: { mean: number; std: number };
}

export interface FastRouter {
  readonly channels: number | null;
  readonly rule: RoutingRule;
  readonly taskIds: readonly string[];
  /** Routes one raw embedding [1,C,H,W] NCHW. */
  route(embedding: HostTensor): RouteResult;
  /** Routes one pooled feature [C]. */
  routeFeature(f: Float32Array): RouteResult;
}

export interface FastRouterOptions {
  rule?: RoutingRule;
  /** Softmax temperature of the pooling (default 1, as the TF.js router). */
  temperature?: number;
  /**
   * 'js' forces the plain-JS loops for the pooling and for VAEs this router builds from TF.js ones (FastTaskVaes
   * passed in keep their own). Default: the SIMD kernel where it runs.
   */
  kernel?: FastRouterKernel;
}

/** A FastTaskVae with the same weights and β as a TF.js TaskVAE (reads them out once). */
export function fastTaskVaeOf(vae: RouterTask['vae'], opts: { kernel?: FastRouterKernel } = {}): FastTaskVae {
  return createFastTaskVae(vae.stateDict(), vae.inputDim, vae.beta, opts);
}

/**
 * Attention pooling of [1,C,H,W] embeddings into one reused [C] buffer: the squared norms and the weighted sum
 * f = Z·a on the SIMD kernel (float32 sums), the norms' roots and the softmax on it too (float64, `softmax`), (Z is
 * [C,HW] row-major in NCHW) where it runs and HW and C are multiples of 4, else attentionPoolNchw's loops.
 */
function createPooler(
  c: number,
  temperature: number,
  kernel: FastRouterKernel | undefined,
): (z: Float32Array, hw: number) => Float32Array {
  const out = new Float32Array(c);
  if (!useSimd(kernel, c)) return (z, hw) => attentionPoolNchw(z, c, hw, temperature, out);
  const k = createSimdDense(4 * c)!;
  return (z, hw) => {
    if (hw % 4 !== 0) return attentionPoolNchw(z, c, hw, temperature, out);
    if (!(temperature > 0) || !Number.isFinite(temperature))
      throw new RouterError(`temperature must be a positive finite number, got ${temperature}`);
    if (z.length !== c * hw) throw new RouterError(`embedding has ${z.length} values, expected ${c}·${hw}`);
    // Layout: zero bias [c] | a [hw] | out [c] | float64 scratch [hw doubles] | Z [c·hw]; the squared norms are
    // summed into a's slot first, then turned into the attention weights in place.
    const [bAt, aAt, outAt] = [0, c, c + hw];
    const eAt = outAt + c;
    const zAt = eAt + 2 * hw;
    k.ensure(zAt + c * hw);
    const m = k.f32;
    m.set(z, zAt);
    m.fill(0, aAt, aAt + hw);
    k.sumsq(zAt, aAt, c, hw);
    k.raw.softmax(aAt * 4, eAt * 4, hw, c, temperature);
    k.dense(zAt, bAt, aAt, outAt, hw, c);
    out.set(m.subarray(outAt, outAt + c));
    return out;
  };
}

/**
 * A router over the same tasks as `createRouter` would build, with the same checks and the same decisions.
 * `tasks` may carry TF.js TaskVAEs (their weights are copied out once) or FastTaskVaes.
 */
export function createFastRouter(
  tasks: readonly (RouterTask | FastRouterTask)[],
  opts: FastRouterOptions = {},
): FastRouter {
  const temperature = opts.temperature ?? 1;
  const list: FastRouterTask[] = tasks.map((t) => ({
    taskId: t.taskId,
    vae:
      t.vae && 'score' in t.vae && 'variables' in t.vae
        ? fastTaskVaeOf(t.vae, { kernel: opts.kernel })
        : (t.vae as FastTaskVae),
    tau: t.tau,
    ...(t.tauStats ? { tauStats: t.tauStats } : {}),
  }));
  const { rule, channels } = checkRouterSetup(list, opts.rule ?? DEFAULT_ROUTING_RULE);
  // All tasks in one kernel memory where every VAE runs on the SIMD kernel with the same widths.
  // ('js' keeps the plain-JS pooling; checkRouterSetup has checked that every VAE takes `channels` features).
  const layers = list.map((t) => simdVaeLayers.get(t.vae));
  const batched =
    opts.kernel !== 'js' && list.length > 0 && layers.every((x) => x !== undefined)
      ? createBatchedScorer(layers as SimdVaeLayers[])
      : null;
  const pool = channels === null || batched ? null : createPooler(channels, temperature, opts.kernel);
  // The routes need the VAEs only where they score one by one: a batched router keeps ids and τ alone, so the
  // per-task kernel memories of VAEs built here from TF.js ones (~190 KB each, copied into the batched memory
  // above) can be collected instead of living as long as the router.
  const vaes = batched ? null : list.map((t) => t.vae);
  const meta = list.map(({ taskId, tau, tauStats }) => ({ taskId, tau, tauStats }));

  /** The route of the scores in task order (raw, before float32 rounding). */
  function routeOf(raw: (i: number) => number): RouteResult {
    const scores: TaskScore[] = meta.map((t, i) => ({
      taskId: t.taskId,
      // Rounded to float32 like the TF.js router's scores, so both report the same kind of number.
      score: Math.fround(raw(i)),
      tau: t.tau,
      ...(t.tauStats ? { tauStats: t.tauStats } : {}),
    }));
    return { decision: decide(scores, rule), scores };
  }

  function routeFeature(f: Float32Array): RouteResult {
    if (channels !== null && f.length !== channels)
      throw new RouterError(`features [${f.length}] have width ${f.length}; the tasks expect ${channels}`);
    if (batched) {
      batched.feature().set(f);
      const s = batched.scores();
      return routeOf((i) => s[i]);
    }
    return routeOf((i) => vaes![i].score(f));
  }

  return {
    channels,
    rule,
    taskIds: meta.map((t) => t.taskId),
    route(embedding: HostTensor): RouteResult {
      const shape = embedding.shape;
      if (shape.length !== 4 || shape[0] !== 1)
        throw new RouterError(`expected one NCHW embedding [1,C,H,W], got [${shape}]`);
      if (channels !== null && shape[1] !== channels)
        throw new RouterError(`embedding [${shape}] has ${shape[1]} channels; the tasks expect ${channels}`);
      const z = toFloat32(embedding);
      const hw = shape[2] * shape[3];
      if (batched) {
        if (z.length !== shape[1] * hw)
          throw new RouterError(`embedding has ${z.length} values, expected ${shape[1]}·${hw}`);
        if (!(temperature > 0) || !Number.isFinite(temperature))
          throw new RouterError(`temperature must be a positive finite number, got ${temperature}`);
        if (!batched.pool(z, hw, temperature))
          return routeFeature(attentionPoolNchw(z, shape[1], hw, temperature));
        const s = batched.scores();
        return routeOf((i) => s[i]);
      }
      if (!meta.length || pool === null) {
        attentionPoolNchw(z, shape[1], shape[2] * shape[3], temperature); // still reject malformed input
        return { decision: { kind: 'fallback', best: null }, scores: [] };
      }
      return routeFeature(pool(z, shape[2] * shape[3]));
    },
    routeFeature,
  };
}
