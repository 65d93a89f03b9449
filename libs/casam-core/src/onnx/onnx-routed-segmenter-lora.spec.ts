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
import {
  OnnxModelError,
  createOnnxSamEngine,
  createOnnxTaskDecoderEngine,
  type OnnxSamEngine,
} from './onnx-sam-engine';
import { ensureOnnxAlignmentLayers, ensureOnnxTaskDecoders } from './onnx-export-cache';
import { createOnnxRoutedSegmenter, exportRoutedSegmenterOnnx } from './onnx-routed-segmenter';

const FP = 'sha256:' + 'ef'.repeat(32);
type Box = [number, number, number, number];

/** An adapter whose decoder delta has a random B (so it changes the masks). */
function adapterBytes(taskId: string, tau: number, withDelta = true): Uint8Array {
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
    ...(withDelta ? { decoderLora: { metadata, stateDict: sd } } : {}),
  });
}

describe('ONNX Runtime routed segmenter and decoder deltas', () => {
  const cfg = getPreset('casam-tiny');
  const sd = randomSamStateDict(cfg, 5);
  const img = syntheticItems(1, { width: 256, height: 256, seed: 10 })[0].image;
  const prompt = { box: [40, 50, 200, 210] as Box };
  let dir: string;
  let cacheRoot: string;
  let tfEngine: SamEngine;
  let engine: OnnxSamEngine;
  let decoderFiles: Map<string, string>;
  const logs: string[] = [];

  beforeAll(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-lora-'));
    cacheRoot = join(dir, 'cache');
    tfEngine = createTfjsSamEngine(buildSam(cfg, sd));
    const forExport = [loadAdapter(adapterBytes('a', 1e9), 64)];
    const m = exportRoutedSegmenterOnnx(join(dir, 'export'), cfg, sd, forExport);
    engine = await createOnnxSamEngine({
      config: cfg,
      encoderPath: join(dir, 'export', m.encoder.file),
      decoderPath: join(dir, 'export', m.decoder.file),
      threads: 1,
    });
    decoderFiles = await ensureOnnxTaskDecoders(cacheRoot, cfg, forExport, {
      modelFingerprint: FP,
      stateDict: () => sd,
      engine,
      reference: () => tfEngine,
      threads: 1,
      log: (l) => logs.push(l),
    });
    for (const a of forExport) [a.align, a.vae, a.decoderLora!].forEach((x) => x.dispose());
  }, 180_000);
  afterAll(() => {
    engine?.dispose();
    tfEngine?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exports one decoder per task with a delta, probed against TF.js, and finds it in the cache next time', async () => {
    expect([...decoderFiles.keys()]).toEqual(['a']);
    expect(decoderFiles.get('a')).toMatch(/[/\\]decoder[/\\][0-9a-f]{16}-[0-9a-f]{24}-x\d+\.onnx$/);
    expect(logs).toEqual([
      expect.stringMatching(/^exported task a's decoder \(delta merged\) to ONNX .*probe: mask logits/),
    ]);
    const again = [loadAdapter(adapterBytes('a', 1e9), 64), loadAdapter(adapterBytes('b', 1e9, false), 64)];
    const more: string[] = [];
    const files = await ensureOnnxTaskDecoders(cacheRoot, cfg, again, {
      modelFingerprint: FP,
      stateDict: () => {
        throw new Error('not needed: cached');
      },
      engine,
      reference: () => {
        throw new Error('not needed: cached');
      },
      log: (l) => more.push(l),
    });
    expect([...files]).toEqual([['a', decoderFiles.get('a')]]);
    expect(more).toEqual([]);
    // Another base model is another key.
    const other = await ensureOnnxTaskDecoders(join(dir, 'cache2'), cfg, again.slice(0, 1), {
      modelFingerprint: 'sha256:' + '12'.repeat(32),
      stateDict: () => sd,
      engine,
      reference: () => tfEngine,
      threads: 1,
    });
    expect(other.get('a')).not.toBe(decoderFiles.get('a'));
    for (const a of again) [a.align, a.vae, a.decoderLora].forEach((x) => x?.dispose());
  }, 120_000);

  it('refuses a task with a delta but no decoder graph rather than decode it with the frozen ONNX decoder', async () => {
    const adapters = [loadAdapter(adapterBytes('a', 1e9), 64)];
    await expect(
      createOnnxRoutedSegmenter({ config: cfg, exportDir: join(dir, 'export'), adapters, threads: 1 }),
    ).rejects.toThrow(OnnxModelError);
    await expect(
      createOnnxRoutedSegmenter({ config: cfg, exportDir: join(dir, 'export'), adapters, threads: 1 }),
    ).rejects.toThrow(/task a carry a decoder delta \(LoRA\) but no decoder graph of their own/);
    for (const a of adapters) [a.align, a.vae, a.decoderLora!].forEach((x) => x.dispose());
  });

  it('parity: the merged ORT decoder vs the TF.js LoRA path, same embeddings and prompts (≤ 1e-4)', async () => {
    const lora = loadAdapter(adapterBytes('a', 1e9), 64);
    const task = await createOnnxTaskDecoderEngine({
      base: engine,
      decoderPath: decoderFiles.get('a')!,
      threads: 1,
    });
    try {
      const rng = createRng(21);
      const g = 16;
      const prompts = [
        { box: [40, 50, 200, 210] as Box },
        { pointCoords: [[128, 100]] as [number, number][], pointLabels: [1] },
        {
          box: [10, 20, 90, 120] as Box,
          pointCoords: [
            [50, 60],
            [80, 30],
          ] as [number, number][],
          pointLabels: [1, 0],
        },
      ];
      let worst = 0;
      let frozenGap = 0;
      for (let i = 0; i < 3; i++) {
        const emb = float32Tensor([1, 64, g, g], normalArray(64 * g * g, rng));
        for (const p of prompts)
          for (const multimask of [false, true]) {
            const ref = await tfEngine.decode(emb, p, { multimask, decoderDelta: lora.decoderLora! });
            const got = await task.decode(emb, p, { multimask });
            const frozen = await engine.decode(emb, p, { multimask });
            worst = Math.max(worst, maxAbsDiff(toFloat32(ref.lowResMasks), toFloat32(got.lowResMasks)));
            worst = Math.max(worst, maxAbsDiff(toFloat32(ref.iouPredictions), toFloat32(got.iouPredictions)));
            frozenGap = Math.max(
              frozenGap,
              maxAbsDiff(toFloat32(ref.lowResMasks), toFloat32(frozen.lowResMasks)),
            );
          }
      }
      console.log(
        `merged ORT decoder vs TF.js + delta: max abs diff ${worst.toExponential(2)} (delta moves logits by up to ${frozenGap.toFixed(2)})`,
      );
      expect(worst).toBeLessThanOrEqual(1e-4);
      expect(frozenGap).toBeGreaterThan(1e-2); // the delta matters, so the parity means something
    } finally {
      task.dispose();
      [lora.align, lora.vae, lora.decoderLora!].forEach((x) => x.dispose());
    }
  }, 60_000);

  it('routes to the task and decodes it on ORT with its own decoder: same decision and mask as TF.js', async () => {
    const onnx = await createOnnxRoutedSegmenter({
      config: cfg,
      engine,
      alignmentLayerFiles: await ensureOnnxAlignmentLayers(cacheRoot, cfg, [
        loadAdapter(adapterBytes('a', 1e9), 64),
      ]),
      taskDecoderFiles: decoderFiles,
      adapters: [loadAdapter(adapterBytes('a', 1e9), 64)],
      threads: 1,
    });
    const tfjs = createRoutedSegmenter(tfEngine, [loadAdapter(adapterBytes('a', 1e9), 64)]);
    try {
      const b = await onnx.segment(img, prompt);
      const a = await tfjs.segment(img, prompt);
      expect(b.route.decision).toMatchObject({ kind: 'task', taskId: 'a' });
      expect(a.route.decision).toMatchObject({ kind: 'task', taskId: 'a' });
      const d = maxAbsDiff(toFloat32(a.lowResMasks), toFloat32(b.lowResMasks));
      console.log(`routed LoRA task, ORT vs TF.js: low-res mask logits max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      expect(b.best).toBe(a.best);
      // The upscaled logits agree to 1e-4 and the binary masks exactly (compared by count: a diff of two
      // 65k-element arrays is slow to print).
      expect(maxAbsDiff(toFloat32(a.masks), toFloat32(b.masks))).toBeLessThanOrEqual(1e-4);
      expect(b.binary.length).toBe(a.binary.length);
      let differ = 0;
      let total = 0;
      a.binary.forEach((plane, k) => {
        const other = b.binary[k];
        expect(other.length).toBe(plane.length);
        total += plane.length;
        for (let i = 0; i < plane.length; i++) if (plane[i] !== other[i]) differ++;
      });
      console.log(`routed LoRA task, ORT vs TF.js: ${differ} of ${total} mask pixels differ`);
      expect(differ).toBe(0);
    } finally {
      onnx.dispose();
      tfjs.dispose();
    }
  }, 60_000);

  it('the fallback stays on ORT and is exactly the frozen ONNX decoder', async () => {
    const onnx = await createOnnxRoutedSegmenter({
      config: cfg,
      engine,
      alignmentLayerFiles: await ensureOnnxAlignmentLayers(cacheRoot, cfg, [
        loadAdapter(adapterBytes('a', -1e9), 64),
      ]),
      taskDecoderFiles: decoderFiles,
      adapters: [loadAdapter(adapterBytes('a', -1e9), 64)],
      threads: 1,
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
