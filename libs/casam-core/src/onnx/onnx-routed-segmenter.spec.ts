import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAdapterFile } from '../casam/adapter-file';
import { initialAlignmentStateDict } from '../casam/align-layer';
import { createRoutedSegmenter, loadAdapter, type RoutedSegmenter } from '../casam/routed-segmenter';
import { initialTaskVaeStateDict } from '../casam/task-vae';
import { createFastRouter, fastTaskVaeOf } from '../casam/fast-router';
import { createSamPredictor } from '../sam/predictor';
import { getPreset } from '../sam/config';
import { randomSamStateDict } from '../sam/random-weights';
import { buildSam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { toFloat32 } from '../tensor/host-tensor';
import { maxAbsDiff } from '../testing/fixtures';
import { stateDictFingerprint } from '../weights/fingerprint';
import { syntheticItems } from '../trainer/trainer-fixtures.testing';
import { useWasm } from './export/onnx-export.testing';
import { ensureOnnxAlignmentLayers, ensureOnnxBaseExport } from './onnx-export-cache';
import { OnnxModelError, createOnnxSamEngine } from './onnx-sam-engine';
import {
  createOnnxRoutedSegmenter,
  exportRoutedSegmenterOnnx,
  type OnnxRoutedSegmenter,
} from './onnx-routed-segmenter';

const FP = 'sha256:' + 'ef'.repeat(32);

function adapterBytes(taskId: string, tau: number, seed: number): Uint8Array {
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: FP },
    tau: { tau, p95: tau, p99: tau, mean: tau / 2, std: 1, n: 10, percentile: 97 },
    align: initialAlignmentStateDict(64, seed),
    vae: initialTaskVaeStateDict(64, seed),
  });
}

describe('ONNX Runtime routed segmenter vs the TF.js one (casam-tiny, random weights, 3 adapters)', () => {
  const cfg = getPreset('casam-tiny');
  const sd = randomSamStateDict(cfg, 5);
  const tasks: [string, number][] = [
    ['spleen', 1],
    ['cardiac', 2],
    ['prostate', 3],
  ];
  // Each task's τ is set to the median score its random VAE gives these images, and routing compares score/τ:
  // then different tasks win different images and some images fall back, so every path is compared.
  const taus = [1e9, 1e9, 1e9];
  const load = () => tasks.map(([id, seed], k) => loadAdapter(adapterBytes(id, taus[k], seed), 64));
  const rule = 'score-over-tau' as const;
  // Eight 256-px images in four looks (seeds), so the random VAEs score them differently.
  const images = [10, 11, 12, 13].flatMap((seed) =>
    syntheticItems(2, { width: 256, height: 256, seed }).map((it) => it.image),
  );
  let dir: string;
  let onnx: OnnxRoutedSegmenter;
  let tfjs: RoutedSegmenter;

  beforeAll(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-routed-'));
    const tfEngine = createTfjsSamEngine(buildSam(cfg, sd));
    const probe = createSamPredictor(tfEngine);
    const probeAdapters = load();
    const router = createFastRouter(probeAdapters.map((a) => ({ ...a, vae: fastTaskVaeOf(a.vae) })));
    for (const a of probeAdapters) {
      a.align.dispose();
      a.vae.dispose();
    }
    const scores: number[][] = tasks.map(() => []);
    for (const img of images) {
      const e = await probe.setImage(img);
      router.route(e.embeddings).scores.forEach((s, k) => scores[k].push(s.score));
    }
    // Midway between two neighbouring scores, so no image sits on a knife edge (score/τ = 1 exactly, or two
    // tasks tied at 1) that float noise between engines could tip either way.
    scores.forEach((xs, k) => {
      const s = [...xs].sort((a, b) => a - b);
      const m = Math.floor(s.length / 2);
      taus[k] = (s[m - 1] + s[m]) / 2;
    });
    const forExport = load();
    exportRoutedSegmenterOnnx(dir, cfg, sd, forExport);
    for (const a of forExport) {
      a.align.dispose();
      a.vae.dispose();
    }
    onnx = await createOnnxRoutedSegmenter({
      config: cfg,
      exportDir: dir,
      adapters: load(),
      modelFingerprint: stateDictFingerprint(sd),
      threads: 1,
      rule,
    });
    tfjs = createRoutedSegmenter(tfEngine, load(), { rule });
  }, 120_000);
  afterAll(() => {
    onnx?.dispose();
    tfjs?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('routes every image the same way and gives the same masks', async () => {
    let worstLogit = 0;
    let worstScoreRel = 0;
    let differingPixels = 0;
    let worstFlipped = 0;
    const chosen: string[] = [];
    for (const [i, img] of images.entries()) {
      const prompt = { box: [40 + i, 50, 200, 210 - i] as [number, number, number, number] };
      const a = await tfjs.segment(img, prompt);
      const b = await onnx.segment(img, prompt);
      expect(b.route.decision.kind).toBe(a.route.decision.kind);
      const ida = a.route.decision.kind === 'task' ? a.route.decision.taskId : 'fallback';
      const idb = b.route.decision.kind === 'task' ? b.route.decision.taskId : 'fallback';
      expect(idb).toBe(ida);
      chosen.push(ida);
      a.route.scores.forEach((s, k) => {
        const r = Math.abs(s.score - b.route.scores[k].score) / Math.abs(s.score);
        worstScoreRel = Math.max(worstScoreRel, r);
      });
      worstLogit = Math.max(worstLogit, maxAbsDiff(toFloat32(a.lowResMasks), toFloat32(b.lowResMasks)));
      worstLogit = Math.max(worstLogit, maxAbsDiff(toFloat32(a.masks), toFloat32(b.masks)));
      expect(b.best).toBe(a.best);
      // A thresholded pixel may differ only where the logit is float noise away from 0 (random weights put some
      // logits there: one at ~1e-7 flips on AVX-512 machines and not on AVX2 ones).
      for (let k = 0; k < a.binary.length; k++) {
        const la = toFloat32(a.masks).subarray(k * a.binary[k].length);
        const lb = toFloat32(b.masks).subarray(k * a.binary[k].length);
        for (let p = 0; p < a.binary[k].length; p++)
          if (a.binary[k][p] !== b.binary[k][p]) {
            differingPixels++;
            worstFlipped = Math.max(worstFlipped, Math.abs(la[p]), Math.abs(lb[p]));
          }
      }
    }
    console.log(
      `ONNX vs TF.js routed segmenter on ${images.length} images: routes ${chosen.join(' ')}; ` +
        `worst score rel diff ${worstScoreRel.toExponential(2)}; worst mask logit diff ${worstLogit.toExponential(2)}; ` +
        `differing thresholded pixels ${differingPixels}` +
        (differingPixels ? ` (largest |logit| among them ${worstFlipped.toExponential(2)})` : ''),
    );
    expect(chosen).toContain('fallback');
    expect(new Set(chosen).size).toBeGreaterThan(2);
    expect(worstLogit).toBeLessThanOrEqual(1e-4);
    expect(worstFlipped).toBeLessThanOrEqual(1e-4);
    expect(differingPixels).toBeLessThan(10);
  }, 120_000);

  it('runs on a borrowed engine with layer files from the export cache: same routes and masks; dispose keeps the engine', async () => {
    const cacheRoot = join(dir, 'cache');
    const base = await ensureOnnxBaseExport({
      cacheRoot,
      config: cfg,
      modelFingerprint: stateDictFingerprint(sd),
      stateDict: () => sd,
      reference: () => createTfjsSamEngine(buildSam(cfg, sd)),
      threads: 1,
    });
    const engine = await createOnnxSamEngine({
      config: cfg,
      encoderPath: base.encoderPath,
      decoderPath: base.decoderPath,
      threads: 1,
    });
    const adapters = load();
    const files = await ensureOnnxAlignmentLayers(cacheRoot, cfg, adapters, { threads: 1 });
    const borrowed = await createOnnxRoutedSegmenter({
      config: cfg,
      engine,
      alignmentLayerFiles: files,
      adapters,
      rule,
    });
    for (const [i, img] of images.entries()) {
      const prompt = { box: [40 + i, 50, 200, 210 - i] as [number, number, number, number] };
      const a = await onnx.segment(img, prompt);
      const b = await borrowed.segment(img, prompt);
      expect(b.route.decision).toEqual(a.route.decision);
      expect(maxAbsDiff(toFloat32(a.lowResMasks), toFloat32(b.lowResMasks))).toBeLessThanOrEqual(1e-5);
    }
    borrowed.dispose();
    // The engine is still open: it embeds after the segmenter is gone.
    const again = await createSamPredictor(engine).setImage(images[0]);
    expect(again.embeddings.shape).toEqual([1, 64, 16, 16]);
    engine.dispose();
  }, 120_000);

  it('refuses an export that lacks a task’s Alignment Layer or was made from other weights', async () => {
    const stranger = loadAdapter(adapterBytes('spleen', 1, 9), 64); // same task id, other weights
    await expect(
      createOnnxRoutedSegmenter({ config: cfg, exportDir: dir, adapters: [stranger], threads: 1 }),
    ).rejects.toThrow(/no Alignment Layer for task spleen/);
    await expect(
      createOnnxRoutedSegmenter({
        config: cfg,
        exportDir: dir,
        adapters: [],
        modelFingerprint: 'sha256:' + '00'.repeat(32),
        threads: 1,
      }),
    ).rejects.toThrow(OnnxModelError);
    await expect(
      createOnnxRoutedSegmenter({
        config: getPreset('casam-small'),
        exportDir: dir,
        adapters: [],
        threads: 1,
      }),
    ).rejects.toThrow(/another configuration/);
    stranger.align.dispose();
    stranger.vae.dispose();
  });
});
