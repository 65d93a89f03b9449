import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { getPreset } from '../sam/config';
import { createSamPredictor } from '../sam/predictor';
import { randomSamStateDict } from '../sam/random-weights';
import { buildSam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import type { SamEngine } from '../sam/engine';
import { writeAdapterFile } from './adapter-file';
import { initialAlignmentStateDict } from './align-layer';
import { createRoutedSegmenter, loadAdapter } from './routed-segmenter';
import { initialTaskVaeStateDict } from './task-vae';
import { tf } from '../sam/tf';

const FP = 'sha256:' + 'cd'.repeat(32);
const tau = (t: number) => ({ tau: t, p95: t, p99: t, mean: t / 2, std: 1, n: 10, percentile: 97 });

function adapter(taskId: string, t: number, seed: number): Uint8Array {
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: FP },
    tau: tau(t),
    align: initialAlignmentStateDict(64, seed),
    vae: initialTaskVaeStateDict(64, seed),
  });
}

function image(w: number, h: number, seed: number) {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 17) % 251;
  return { width: w, height: h, data };
}

describe('routed segmenter', () => {
  let engine: SamEngine;
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
    engine = createTfjsSamEngine(
      buildSam(getPreset('casam-tiny'), randomSamStateDict(getPreset('casam-tiny'), 3)),
    );
  });

  it('falls back to plain frozen SAM — bit for bit — when no task accepts the image', async () => {
    const seg = createRoutedSegmenter(engine, [loadAdapter(adapter('a', -1e9, 1), 64)]);
    const img = image(96, 80, 1);
    const prompt = { box: [10, 10, 60, 50] as [number, number, number, number] };
    const r = await seg.segment(img, prompt);
    expect(r.route.decision.kind).toBe('fallback');
    const plain = await createSamPredictor(engine)
      .setImage(img)
      .then(async () => undefined);
    expect(plain).toBeUndefined();
    const p = createSamPredictor(engine);
    await p.setImage(img);
    const ref = await p.predict(prompt);
    expect(Buffer.from(r.binary[r.best]).equals(Buffer.from(ref.binary[ref.best]))).toBe(true);
    expect(r.iouPredictions).toEqual(ref.iouPredictions);
  });

  it('routes to the argmin task under τ and decodes the aligned embedding', async () => {
    const seg = createRoutedSegmenter(engine, [
      loadAdapter(adapter('a', 1e9, 1), 64),
      loadAdapter(adapter('b', 1e9, 2), 64),
    ]);
    const img = image(96, 80, 2);
    const r = await seg.segment(img, { box: [5, 5, 70, 60] });
    expect(r.route.decision.kind).toBe('task');
    const [sa, sb] = r.route.scores;
    const chosen = sa.score <= sb.score ? 'a' : 'b';
    expect(r.route.decision.kind === 'task' && r.route.decision.taskId).toBe(chosen);
    // Same answer as applying that task's layer by hand.
    const p = createSamPredictor(engine);
    const e = await p.setImage(img);
    const layer = loadAdapter(adapter(chosen, 1e9, chosen === 'a' ? 1 : 2), 64).align;
    const y = layer.forward(
      tf.tensor4d(e.embeddings.data as Float32Array, e.embeddings.shape as [number, number, number, number]),
    );
    p.setEmbedding({ ...e, embeddings: { ...e.embeddings, data: Float32Array.from(y.dataSync()) } });
    const ref = await p.predict({ box: [5, 5, 70, 60] });
    expect(r.iouPredictions[0]).toBeCloseTo(ref.iouPredictions[0], 5);
    expect(r.timings.embedMs).toBeGreaterThan(0);
  });

  it('works with no task at all (an empty bundle) and refuses adapters of another width', async () => {
    const seg = createRoutedSegmenter(engine, []);
    const r = await seg.segment(image(64, 64, 3), { points: [[30, 30]], labels: [1] });
    expect(r.route.decision).toEqual({ kind: 'fallback', best: null });
    expect(() => loadAdapter(adapter('a', 1, 1), 256)).toThrow(/invalid CA-SAM adapter file/);
  });
});
