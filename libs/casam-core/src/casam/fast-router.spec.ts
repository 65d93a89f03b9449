import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../random/seeded-random';
import { tf } from '../sam/tf';
import { float32Tensor, HostTensor } from '../tensor/host-tensor';
import { loadFixture, maxAbsDiff } from '../testing/fixtures';
import { CASAM_WEIGHTS, golden, useBackend } from './casam-fixtures.testing';
import { attentionPoolNchw, createFastRouter, createFastTaskVae, fastTaskVaeOf } from './fast-router';
import { ROUTING_RULES, RouterError, RouterTask, createRouter } from './router';
import { stripPrefix } from './state-dict-check';
import { TaskVae, createTaskVae } from './task-vae';

const REL = 1e-5;
/** Both kernels of the fast router: the WebAssembly SIMD one (the default here) and the plain-JS loops. */
const KERNELS = ['wasm-simd', 'js'] as const;
const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);

/** Gaussian-ish embedding values (sum of uniforms), seeded; `scale` spreads images apart so routes differ. */
function embedding(shape: number[], seed: number, scale = 1): HostTensor {
  const rng = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  const bias = (rng() - 0.5) * scale;
  for (let i = 0; i < n; i++) d[i] = bias + (rng() + rng() + rng() - 1.5) * scale;
  return float32Tensor(shape, d);
}

describe.each(['cpu', 'wasm'] as const)('fast router vs the TF.js router on %s', (backend) => {
  let fixtureVae: TaskVae;
  let randomVaes: TaskVae[];
  beforeAll(async () => {
    await useBackend(backend);
    fixtureVae = createTaskVae({
      inputDim: 64,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'vae64.'),
      trainable: false,
    });
    randomVaes = Array.from({ length: 8 }, (_, i) =>
      createTaskVae({ inputDim: 64, seed: 100 + i, trainable: false, beta: i === 3 ? 2 : undefined }),
    );
  });
  afterAll(() => {
    fixtureVae.dispose();
    for (const v of randomVaes) v.dispose();
  });

  it('pools the golden embedding like the reference and scores the golden features like the VAE golden', () => {
    const z = golden('align64.input');
    const f = attentionPoolNchw(z, 64, 256);
    const dPool = maxAbsDiff(f, golden('pool64.raw.f'));
    const x = golden('vae64.x');
    const want = golden('vae64.score');
    let worst = 0;
    for (const kernel of KERNELS) {
      const fast = fastTaskVaeOf(fixtureVae, { kernel });
      expect(fast.kernel).toBe(kernel);
      for (let i = 0; i < 8; i++)
        worst = Math.max(worst, relDiff(fast.score(x.slice(i * 64, (i + 1) * 64)), want[i]));
    }
    // The router's own pooling (the SIMD kernel's) on the golden embedding, through a VAE that returns f[0]: the
    // route's score is the pooled feature's first value.
    const probe = { kernel: 'wasm-simd' as const, inputDim: 64, hiddenDim: 32, latentDim: 16, beta: 0 };
    const seen: Float32Array[] = [];
    const router = createFastRouter([
      { taskId: 'p', tau: 1, vae: { ...probe, score: (f: Float32Array) => (seen.push(f.slice()), 0) } },
    ]);
    router.route(float32Tensor([1, 64, 16, 16], z));
    const dPoolSimd = maxAbsDiff(seen[0], golden('pool64.raw.f'));
    console.log(
      `[${backend}] fast pool f vs golden ${dPool.toExponential(1)} (js), ${dPoolSimd.toExponential(1)} (wasm-simd); ` +
        `VAE score rel ${worst.toExponential(1)} (both kernels)`,
    );
    expect(dPool).toBeLessThan(1e-6);
    expect(dPoolSimd).toBeLessThan(1e-6);
    expect(worst).toBeLessThan(REL);
  });

  it('the scores equal the TF.js router’s within 1e-5 relative and every decision is identical', () => {
    const tasks: RouterTask[] = [fixtureVae, ...randomVaes].map((vae, i) => ({
      taskId: `t${i}`,
      vae,
      // τ around the scores' scale so both task and fallback decisions occur.
      tau: i % 3 === 0 ? 1e9 : 40 + 10 * i,
      tauStats: { mean: 20 + i, std: 3 + i },
    }));
    // TF.js computes KL = −½ Σ_k (1 + logvar − μ² − e^logvar) in float32: 64 terms near 1 whose differences are
    // rounded to ulp(1)/2 each, so its score carries up to β·64·2⁻²⁴ ≈ 6e-5 absolute error whatever its size
    // (the fast router sums in float64). Small scores (< ~6) are held to that bound, the rest to 1e-5 relative.
    const tolerance = (s: number, beta: number) => Math.max(REL * Math.abs(s), beta * 64 * 2 ** -24);
    let worst = 0;
    let worstAbsSmall = 0;
    let images = 0;
    const kinds = new Set<string>();
    const winners = new Set<string>();
    for (const rule of ROUTING_RULES) {
      const ref = createRouter(tasks, { rule });
      const fasts = KERNELS.map((kernel) => createFastRouter(tasks, { rule, kernel }));
      for (const fast of fasts) expect(fast.taskIds).toEqual(ref.taskIds);
      const inputs: HostTensor[] = [float32Tensor([1, 64, 16, 16], golden('align64.input'))];
      for (let s = 0; s < 6; s++) inputs.push(embedding([1, 64, 16, 16], s, 0.2 + s));
      for (let s = 0; s < 3; s++) inputs.push(embedding([1, 64, 32, 32], 50 + s, 0.5 + s));
      for (const e of inputs) {
        const z = tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]);
        const r = ref.route(z);
        z.dispose();
        for (const q of fasts.map((fast) => fast.route(e))) {
          for (let k = 0; k < r.scores.length; k++) {
            const [a, b] = [q.scores[k].score, r.scores[k].score];
            expect(Math.abs(a - b)).toBeLessThanOrEqual(tolerance(b, tasks[k].vae.beta));
            if (REL * Math.abs(b) >= tasks[k].vae.beta * 64 * 2 ** -24)
              worst = Math.max(worst, relDiff(a, b));
            else worstAbsSmall = Math.max(worstAbsSmall, Math.abs(a - b));
          }
          expect(q.decision.kind).toBe(r.decision.kind);
          if (r.decision.kind === 'task' && q.decision.kind === 'task')
            expect(q.decision.taskId).toBe(r.decision.taskId);
          if (r.decision.kind === 'fallback' && q.decision.kind === 'fallback')
            expect(q.decision.best?.taskId).toBe(r.decision.best?.taskId);
        }
        kinds.add(r.decision.kind);
        winners.add(r.decision.kind === 'task' ? r.decision.taskId : `fb:${r.decision.best?.taskId}`);
        images++;
      }
    }
    console.log(
      `[${backend}] ${images} routes, 9 tasks: worst score rel diff ${worst.toExponential(2)} (scores ≥ ~6), worst abs diff ${worstAbsSmall.toExponential(2)} (smaller scores); outcomes ${[...winners].join(' ')}`,
    );
    expect(worst).toBeLessThan(REL);
    // The comparison means something only if both outcomes and several winners occurred.
    expect(kinds).toEqual(new Set(['task', 'fallback']));
    expect(winners.size).toBeGreaterThan(2);
  });
});

describe('fast router checks', () => {
  it('refuses what createRouter refuses, and falls back with no tasks', () => {
    const sd = createTaskVae({ inputDim: 64, seed: 1 });
    const vae = fastTaskVaeOf(sd);
    sd.dispose();
    expect(() =>
      createFastRouter([
        { taskId: 'a', vae, tau: 1 },
        { taskId: 'a', vae, tau: 1 },
      ]),
    ).toThrow(/registered twice/);
    expect(() => createFastRouter([{ taskId: 'a', vae, tau: NaN }])).toThrow(RouterError);
    expect(() => createFastRouter([{ taskId: '', vae, tau: 1 }])).toThrow(/taskId/);
    expect(() => createFastRouter([], { rule: 'nearest' as never })).toThrow(/unknown routing rule/);
    const r = createFastRouter([{ taskId: 'a', vae, tau: 1 }]);
    expect(() => r.route(float32Tensor([1, 32, 4, 4]))).toThrow(/32 channels/);
    expect(() => r.route(float32Tensor([2, 64, 4, 4]))).toThrow(/one NCHW embedding/);
    expect(() => r.routeFeature(new Float32Array(32))).toThrow(/width 32/);
    expect(createFastRouter([]).route(float32Tensor([1, 64, 4, 4]))).toEqual({
      decision: { kind: 'fallback', best: null },
      scores: [],
    });
    expect(() => createFastTaskVae(new Map(), 64)).toThrow(/missing/);
  });
});
