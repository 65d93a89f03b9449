import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { getPreset } from '../sam/config';
import { createSamPredictor } from '../sam/predictor';
import { randomSamStateDict } from '../sam/random-weights';
import { buildSam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import type { SamEngine } from '../sam/engine';
import { tf } from '../sam/tf';
import { StateDict, float32Tensor } from '../tensor/host-tensor';
import { createRng, normalArray } from '../random/seeded-random';
import { writeAdapterFile } from './adapter-file';
import { initialAlignmentStateDict } from './align-layer';
import { createDecoderLora } from './decoder-lora';
import { createRoutedSegmenter, loadAdapter } from './routed-segmenter';
import { initialTaskVaeStateDict } from './task-vae';

const FP = 'sha256:' + 'cd'.repeat(32);
const tau = (t: number) => ({ tau: t, p95: t, p99: t, mean: t / 2, std: 1, n: 10, percentile: 97 });
type Box = [number, number, number, number];

/** A fresh delta's tensors (B = 0), or with B drawn at random. */
function loraTensors(randomB: boolean): {
  metadata: { rank: number; alpha: number; layers: string[] };
  stateDict: StateDict;
} {
  const lora = createDecoderLora({ channels: 64, rank: 2, seed: 4 });
  const sd = lora.stateDict();
  const metadata = lora.metadata();
  lora.dispose();
  if (randomB) {
    const rng = createRng(8);
    for (const [k, v] of sd)
      if (k.endsWith('.B'))
        sd.set(
          k,
          float32Tensor(
            [...v.shape],
            normalArray(v.data.length, rng).map((x) => x * 0.3),
          ),
        );
  }
  return { metadata, stateDict: sd };
}

function adapter(taskId: string, t: number, lora?: ReturnType<typeof loraTensors>): Uint8Array {
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: FP },
    tau: tau(t),
    align: initialAlignmentStateDict(64, 1),
    vae: initialTaskVaeStateDict(64, 1),
    ...(lora ? { decoderLora: lora } : {}),
  });
}

function image(w: number, h: number, seed: number) {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 17) % 251;
  return { width: w, height: h, data };
}

describe('routed segmenter with decoder deltas (TF.js engine)', () => {
  let engine: SamEngine;
  const img = image(96, 80, 4);
  const prompt = { box: [8, 6, 70, 64] as Box };

  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
    engine = createTfjsSamEngine(
      buildSam(getPreset('casam-tiny'), randomSamStateDict(getPreset('casam-tiny'), 3)),
    );
  });

  it('a task with a zero-B delta answers exactly as the same task without one', async () => {
    const plain = createRoutedSegmenter(engine, [loadAdapter(adapter('a', 1e9), 64)]);
    const zero = createRoutedSegmenter(engine, [loadAdapter(adapter('a', 1e9, loraTensors(false)), 64)]);
    const p = await plain.segment(img, prompt);
    const z = await zero.segment(img, prompt);
    expect(z.route.decision).toMatchObject({ kind: 'task', taskId: 'a' });
    expect(z.lowResMasks.data).toEqual(p.lowResMasks.data);
    expect(z.iouPredictions).toEqual(p.iouPredictions);
    plain.dispose();
    zero.dispose();
  });

  it('applies the chosen task’s delta together with its Alignment Layer', async () => {
    const before = tf.memory().numTensors;
    const lora = loraTensors(true);
    const seg = createRoutedSegmenter(engine, [loadAdapter(adapter('a', 1e9, lora), 64)]);
    const r = await seg.segment(img, prompt);
    expect(r.route.decision).toMatchObject({ kind: 'task', taskId: 'a' });
    // By hand: the task's layer on the embedding, then the decoder with the task's delta.
    const ref = loadAdapter(adapter('a', 1e9, lora), 64);
    const p = createSamPredictor(engine);
    const e = await p.setImage(img);
    const x = tf.tensor4d(e.embeddings.data as Float32Array, [1, 64, 16, 16]);
    const y = ref.align.forward(x);
    x.dispose();
    p.setEmbedding({
      ...e,
      embeddings: float32Tensor([...e.embeddings.shape], Float32Array.from(y.dataSync())),
    });
    y.dispose();
    const want = await p.predict(prompt, { decoderDelta: ref.decoderLora });
    const noDelta = await p.predict(prompt);
    expect(r.lowResMasks.data).toEqual(want.lowResMasks.data);
    expect(r.iouPredictions).toEqual(want.iouPredictions);
    expect(r.lowResMasks.data).not.toEqual(noDelta.lowResMasks.data);
    seg.dispose();
    for (const x of [ref.align, ref.vae, ref.decoderLora!]) x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('falls back to exactly frozen SAM (no delta) when no task accepts the image', async () => {
    const seg = createRoutedSegmenter(engine, [loadAdapter(adapter('a', -1e9, loraTensors(true)), 64)]);
    const r = await seg.segment(img, prompt);
    expect(r.route.decision.kind).toBe('fallback');
    const p = createSamPredictor(engine);
    await p.setImage(img);
    const ref = await p.predict(prompt);
    expect(r.lowResMasks.data).toEqual(ref.lowResMasks.data);
    expect(r.iouPredictions).toEqual(ref.iouPredictions);
    seg.dispose();
  });

  it('refuses tasks with a delta on an engine that cannot apply one', () => {
    const onnxLike: SamEngine = { ...engine, kind: 'onnx' };
    const a = loadAdapter(adapter('a', 1, loraTensors(false)), 64);
    expect(() => createRoutedSegmenter(onnxLike, [a])).toThrow(
      /task a carry a decoder delta \(LoRA\), which the onnx engine/,
    );
    for (const x of [a.align, a.vae, a.decoderLora!]) x.dispose();
  });
});
