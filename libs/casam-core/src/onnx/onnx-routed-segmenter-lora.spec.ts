import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAdapterFile } from '../casam/adapter-file';
import { initialAlignmentStateDict } from '../casam/align-layer';
import { createDecoderLora } from '../casam/decoder-lora';
import { createRoutedSegmenter, loadAdapter } from '../casam/routed-segmenter';
import { initialTaskVaeStateDict } from '../casam/task-vae';
import { createRng, normalArray } from '../random/seeded-random';
import { getPreset } from '../sam/config';
import type { SamEngine } from '../sam/engine';
import { createSamPredictor } from '../sam/predictor';
import { randomSamStateDict } from '../sam/random-weights';
import { buildSam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { maxAbsDiff } from '../testing/fixtures';
import { syntheticItems } from '../trainer/trainer-fixtures.testing';
import { useWasm } from './export/onnx-export.testing';
import { OnnxModelError } from './onnx-sam-engine';
import { createOnnxRoutedSegmenter, exportRoutedSegmenterOnnx } from './onnx-routed-segmenter';

const FP = 'sha256:' + 'ef'.repeat(32);
type Box = [number, number, number, number];

/** An adapter whose decoder delta has a random B (so it changes the masks). */
function adapterBytes(taskId: string, tau: number): Uint8Array {
  const lora = createDecoderLora({ channels: 64, rank: 2, seed: 6 });
  const sd = lora.stateDict();
  const metadata = lora.metadata();
  lora.dispose();
  const rng = createRng(9);
  for (const [k, v] of sd)
    if (k.endsWith('.B'))
      sd.set(
        k,
        float32Tensor(
          [...v.shape],
          normalArray(v.data.length, rng).map((x) => x * 0.3),
        ),
      );
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: FP },
    tau: { tau, p95: tau, p99: tau, mean: tau / 2, std: 1, n: 10, percentile: 97 },
    align: initialAlignmentStateDict(64, 2),
    vae: initialTaskVaeStateDict(64, 2),
    decoderLora: { metadata, stateDict: sd },
  });
}

describe('ONNX Runtime routed segmenter and decoder deltas', () => {
  const cfg = getPreset('casam-tiny');
  const sd = randomSamStateDict(cfg, 5);
  const img = syntheticItems(1, { width: 256, height: 256, seed: 10 })[0].image;
  const prompt = { box: [40, 50, 200, 210] as Box };
  let dir: string;
  let tfEngine: SamEngine;

  beforeAll(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-lora-'));
    tfEngine = createTfjsSamEngine(buildSam(cfg, sd));
    const forExport = [loadAdapter(adapterBytes('a', 1e9), 64)];
    exportRoutedSegmenterOnnx(dir, cfg, sd, forExport);
    for (const a of forExport) [a.align, a.vae, a.decoderLora!].forEach((x) => x.dispose());
  }, 120_000);
  afterAll(() => {
    tfEngine?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a task with a delta rather than decode it with the frozen ONNX decoder', async () => {
    const adapters = [loadAdapter(adapterBytes('a', 1e9), 64)];
    await expect(
      createOnnxRoutedSegmenter({ config: cfg, exportDir: dir, adapters, threads: 1 }),
    ).rejects.toThrow(OnnxModelError);
    await expect(
      createOnnxRoutedSegmenter({ config: cfg, exportDir: dir, adapters, threads: 1 }),
    ).rejects.toThrow(
      /task a carry a decoder delta \(LoRA\), which the ONNX Runtime decoder cannot apply yet/,
    );
    const wrong = { ...tfEngine, kind: 'onnx' as const };
    await expect(
      createOnnxRoutedSegmenter({
        config: cfg,
        exportDir: dir,
        adapters,
        threads: 1,
        decoderDeltaEngine: wrong,
      }),
    ).rejects.toThrow(/decoderDeltaEngine must be a TF.js engine/);
    for (const a of adapters) [a.align, a.vae, a.decoderLora!].forEach((x) => x.dispose());
  });

  it('with a TF.js engine for those tasks: warns once, decodes them there with the delta, same masks as TF.js', async () => {
    const warnings: string[] = [];
    const onnx = await createOnnxRoutedSegmenter({
      config: cfg,
      exportDir: dir,
      adapters: [loadAdapter(adapterBytes('a', 1e9), 64)],
      threads: 1,
      decoderDeltaEngine: tfEngine,
      onWarning: (m) => warnings.push(m),
    });
    const tfjs = createRoutedSegmenter(tfEngine, [loadAdapter(adapterBytes('a', 1e9), 64)]);
    try {
      expect(warnings).toEqual([
        expect.stringMatching(/^task a: decoder delta \(LoRA\) decoded on the TF.js engine/),
      ]);
      const b = await onnx.segment(img, prompt);
      const a = await tfjs.segment(img, prompt);
      expect(b.route.decision).toMatchObject({ kind: 'task', taskId: 'a' });
      expect(maxAbsDiff(toFloat32(a.lowResMasks), toFloat32(b.lowResMasks))).toBeLessThanOrEqual(1e-4);
      expect(b.best).toBe(a.best);
      await onnx.segment(img, prompt);
      expect(warnings).toHaveLength(1);
    } finally {
      onnx.dispose();
      tfjs.dispose();
    }
  }, 60_000);

  it('the fallback stays on ORT and is exactly the frozen ONNX decoder', async () => {
    const onnx = await createOnnxRoutedSegmenter({
      config: cfg,
      exportDir: dir,
      adapters: [loadAdapter(adapterBytes('a', -1e9), 64)],
      threads: 1,
      decoderDeltaEngine: tfEngine,
      onWarning: () => undefined,
    });
    try {
      const r = await onnx.segment(img, prompt);
      expect(r.route.decision.kind).toBe('fallback');
      const p = createSamPredictor(onnx.engine);
      await p.setImage(img);
      const ref = await p.predict(prompt);
      expect(r.lowResMasks.data).toEqual(ref.lowResMasks.data);
      expect(r.iouPredictions).toEqual(ref.iouPredictions);
    } finally {
      onnx.dispose();
    }
  }, 60_000);
});
