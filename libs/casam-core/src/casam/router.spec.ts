import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { loadFixture } from '../testing/fixtures';
import { attentionPool } from './attention-pool';
import { CASAM_WEIGHTS, golden, goldenTf, useBackend } from './casam-fixtures.testing';
import { ROUTING_RULES, RouterError, RoutingRule, TaskScore, createRouter, decide } from './router';
import { mulberry32 } from '../random/seeded-random';
import { stripPrefix } from './state-dict-check';
import { TaskVae, createTaskVae } from './task-vae';

describe('decide', () => {
  it('takes the argmin, falls back above its τ, ties go to the first task, NaN never wins', () => {
    const a = { taskId: 'a', score: 5, tau: 6 };
    const b = { taskId: 'b', score: 3, tau: 2 };
    const c = { taskId: 'c', score: 4, tau: 10 };
    expect(decide([a, c])).toEqual({ kind: 'task', ...c });
    // b has the lowest score but refuses (3 > 2): fallback, even though c would have accepted
    expect(decide([a, b, c])).toEqual({ kind: 'fallback', best: b });
    expect(decide([{ ...a, score: 6 }])).toEqual({ kind: 'task', ...a, score: 6 }); // score = τ is accepted
    expect(decide([a, { ...c, score: 5 }])).toEqual({ kind: 'task', ...a });
    expect(decide([{ ...a, score: NaN }, c])).toEqual({ kind: 'task', ...c });
    expect(decide([{ ...a, score: NaN }])).toEqual({ kind: 'fallback', best: null });
    expect(decide([])).toEqual({ kind: 'fallback', best: null });
  });
});

describe('routing rules with tasks whose τ live on different scales', () => {
  // A cardiac-like task whose VAE scores its own images around 1.5 (τ 2.19), and an MRI-like task whose VAE
  // scores everything low: its own images around 0.6 (τ 0.96), cardiac images around 0.9. Seeded draws.
  const rng = mulberry32(7);
  const normal = (m: number, sd: number): number => {
    const u = Math.max(rng(), 1e-12);
    return m + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
  const cardiac = { taskId: 'cardiac', tau: 2.19, tauStats: { mean: 1.5, std: 0.35 } };
  const mri = { taskId: 'mri', tau: 0.96, tauStats: { mean: 0.6, std: 0.17 } };
  const cardiacImages = Array.from({ length: 400 }, () => [
    { ...cardiac, score: normal(1.5, 0.35) },
    { ...mri, score: normal(0.9, 0.06) },
  ]);
  const mriImages = Array.from({ length: 400 }, () => [
    { ...cardiac, score: normal(3.5, 0.5) },
    { ...mri, score: normal(0.6, 0.17) },
  ]);
  const accuracy = (images: TaskScore[][], want: string, rule: RoutingRule): number =>
    images.filter((sc) => {
      const d = decide(sc, rule);
      return d.kind === 'task' && d.taskId === want;
    }).length / images.length;

  it('the paper rule hands cardiac images to the low-scoring MRI task; normalised rules keep them', () => {
    expect(accuracy(cardiacImages, 'cardiac', 'paper')).toBeLessThan(0.2);
    expect(accuracy(cardiacImages, 'cardiac', 'score-over-tau')).toBeGreaterThan(0.9);
    expect(accuracy(cardiacImages, 'cardiac', 'z-score')).toBeGreaterThan(0.9);
    for (const rule of ROUTING_RULES) expect(accuracy(mriImages, 'mri', rule)).toBeGreaterThan(0.9);
  });

  it("acceptance is the winner's own τ under every rule, so what no task claims still falls back", () => {
    const unseen = [
      { ...cardiac, score: 2.5 },
      { ...mri, score: 1.2 },
    ];
    for (const rule of ROUTING_RULES) expect(decide(unseen, rule).kind).toBe('fallback');
  });

  it('the z-score rule without recorded spread compares score/τ', () => {
    const a = { taskId: 'a', score: 1.8, tau: 2 };
    const b = { taskId: 'b', score: 0.95, tau: 1 };
    expect(decide([a, b], 'z-score')).toEqual({ kind: 'task', ...a });
    expect(decide([a, b], 'paper')).toEqual({ kind: 'task', ...b });
  });

  it('createRouter refuses an unknown rule and reports the one it uses', () => {
    expect(() => createRouter([], { rule: 'nearest' as RoutingRule })).toThrow(
      /unknown routing rule "nearest"/,
    );
    expect(createRouter([], { rule: 'score-over-tau' }).rule).toBe('score-over-tau');
  });
});

describe('router', () => {
  let fixtureVae: TaskVae;
  let otherVae: TaskVae;
  let x: tf.Tensor2D;
  let sA: Float32Array;
  let sB: Float32Array;

  beforeAll(async () => {
    await useBackend('cpu');
    fixtureVae = createTaskVae({
      inputDim: 64,
      stateDict: stripPrefix(loadFixture(CASAM_WEIGHTS), 'vae64.'),
    });
    otherVae = createTaskVae({ inputDim: 64, seed: 99 });
    x = goldenTf('vae64.x') as tf.Tensor2D;
    sA = fixtureVae.scoreFeatures(x);
    sB = otherVae.scoreFeatures(x);
  });
  afterAll(() => {
    fixtureVae.dispose();
    otherVae.dispose();
    x.dispose();
  });

  it('scores every task and routes each image to the argmin, batched and one by one, without leaks', () => {
    const router = createRouter([
      { taskId: 'fixture', vae: fixtureVae, tau: Infinity },
      { taskId: 'other', vae: otherVae, tau: Infinity },
    ]);
    expect(router.channels).toBe(64);
    expect(router.taskIds).toEqual(['fixture', 'other']);
    const before = tf.memory().numTensors;
    const batch = router.routeBatch(x);
    expect(tf.memory().numTensors).toBe(before);
    expect(batch).toHaveLength(8);
    const rows = golden('vae64.x');
    batch.forEach((r, i) => {
      expect(r.scores.map((s) => s.score)).toEqual([sA[i], sB[i]]);
      const want = sA[i] <= sB[i] ? 'fixture' : 'other';
      expect(r.decision).toMatchObject({ kind: 'task', taskId: want });
      const one = router.route(rows.slice(i * 64, (i + 1) * 64));
      expect(one).toEqual(r);
    });
    expect(tf.memory().numTensors).toBe(before);
    // The fixture VAE's scores are golden: their argmin decides when it is alone.
    const alone = createRouter([{ taskId: 'fixture', vae: fixtureVae, tau: 40 }]).routeBatch(x);
    const g = golden('vae64.score');
    alone.forEach((r, i) => expect(r.decision.kind).toBe(g[i] <= 40 ? 'task' : 'fallback'));
    expect(alone.filter((r) => r.decision.kind === 'task')).toHaveLength(4); // 26.8, 32.5, 36.0, 38.8
  });

  it('falls back to the identity when the best score is above its τ', () => {
    const i = 0;
    const best = Math.min(sA[i], sB[i]);
    const bestId = sA[i] <= sB[i] ? 'fixture' : 'other';
    const taus = { fixture: 0, other: 0 };
    const router = createRouter([
      { taskId: 'fixture', vae: fixtureVae, tau: taus.fixture },
      { taskId: 'other', vae: otherVae, tau: taus.other },
    ]);
    const r = router.route(golden('vae64.x').slice(0, 64));
    expect(r.decision).toEqual({ kind: 'fallback', best: { taskId: bestId, score: best, tau: 0 } });
  });

  it('routes a raw NCHW embedding through attention pooling', () => {
    const vae = createTaskVae({ inputDim: 64, seed: 1 });
    const router = createRouter([{ taskId: 't', vae, tau: 1e9 }]);
    const z = goldenTf('align64.input') as tf.Tensor4D;
    const f = attentionPool(z);
    const before = tf.memory().numTensors;
    const fromEmbedding = router.route(z);
    const fromFeature = router.route(f);
    expect(tf.memory().numTensors).toBe(before);
    expect(fromEmbedding).toEqual(fromFeature);
    expect(fromEmbedding.scores[0].score).toBe(vae.scoreFeatures(f)[0]);
    tf.dispose([z, f]);
    vae.dispose();
  });

  it('with no tasks every image falls back', () => {
    const router = createRouter([]);
    expect(router.route(new Float32Array(64))).toEqual({
      decision: { kind: 'fallback', best: null },
      scores: [],
    });
    expect(router.routeBatch(x)).toHaveLength(8);
  });

  it('rejects bad task lists and inputs with RouterError', () => {
    expect(() =>
      createRouter([
        { taskId: 'a', vae: fixtureVae, tau: 1 },
        { taskId: 'a', vae: otherVae, tau: 1 },
      ]),
    ).toThrow(/registered twice/);
    const wide = createTaskVae({ inputDim: 256 });
    expect(() =>
      createRouter([
        { taskId: 'a', vae: fixtureVae, tau: 1 },
        { taskId: 'b', vae: wide, tau: 1 },
      ]),
    ).toThrow(/takes 256 features/);
    wide.dispose();
    expect(() => createRouter([{ taskId: 'a', vae: fixtureVae, tau: NaN }])).toThrow(RouterError);
    expect(() => createRouter([{ taskId: '', vae: fixtureVae, tau: 1 }])).toThrow(/taskId/);
    const router = createRouter([{ taskId: 'a', vae: fixtureVae, tau: 1 }]);
    expect(() => router.route(new Float32Array(32))).toThrow(/width 32/);
    expect(() => router.route(x)).toThrow(/one image/);
    const z = tf.zeros([1, 32, 4, 4]);
    expect(() => router.route(z)).toThrow(/32 channels/);
    const z3 = tf.zeros([1, 4, 4]);
    expect(() => router.route(z3)).toThrow(RouterError);
    tf.dispose([z, z3]);
  });
});
