/**
 * The validation passes on an injected inference engine (issue 18): the same box-prompt evaluation decoded by
 * ONNX Runtime (the project's own export of the same weights) and by TF.js gives the same scores, up to pixels
 * whose logit is within float rounding of 0. Prints the validation time per image on both engines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlignmentLayer,
  IDENTITY_ALIGNMENT,
  createAlignmentLayer,
  initialAlignmentStateDict,
} from '../casam/align-layer';
import { DecoderLora, createDecoderLora } from '../casam/decoder-lora';
import { useWasm } from '../onnx/export/onnx-export.testing';
import { exportSamOnnx } from '../onnx/export/export-model';
import { OnnxSamEngine, createOnnxSamEngine } from '../onnx/onnx-sam-engine';
import { getPreset } from '../sam/config';
import { randomSamStateDict } from '../sam/random-weights';
import { Sam, buildSam } from '../sam/sam';
import { tf } from '../sam/tf';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { stateDictFingerprint } from '../weights/fingerprint';
import { BoxPromptEvaluation, EvaluateBoxPromptsOptions, evaluateBoxPrompts } from './box-prompt-evaluator';
import { ensureEmbeddings } from './embedding-cache';
import { syntheticItems } from './trainer-fixtures.testing';
import type { EmbeddedItem } from './training-item';

describe('box-prompt validation on ONNX Runtime vs TF.js (casam-tiny, random weights)', () => {
  const cfg = getPreset('casam-tiny');
  const sd = randomSamStateDict(cfg, 5);
  let dir: string;
  let sam: Sam;
  let ort: OnnxSamEngine;
  let items: EmbeddedItem[];
  let align: AlignmentLayer;
  let lora: DecoderLora;

  beforeAll(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'casam-val-engine-'));
    sam = buildSam(cfg, sd);
    const m = exportSamOnnx(join(dir, 'onnx'), cfg, sd);
    ort = await createOnnxSamEngine({
      config: cfg,
      encoderPath: join(dir, 'onnx', m.encoder.file),
      decoderPath: join(dir, 'onnx', m.decoder.file),
      threads: 1,
    });
    const raw = syntheticItems(4, { width: 256, height: 256, seed: 30, prefix: 'va' });
    const handles = await ensureEmbeddings(raw, createTfjsSamEngine(sam), {
      cacheDir: join(dir, 'cache'),
      fingerprint: stateDictFingerprint(sd),
    });
    items = raw.map((it, i) => ({ id: it.id, handle: handles[i], masks: it.masks }));
    align = createAlignmentLayer({
      channels: cfg.outChans,
      stateDict: initialAlignmentStateDict(64, 3),
      trainable: false,
    });
    lora = createDecoderLora({ channels: cfg.outChans, rank: 2, seed: 4, trainable: false });
  }, 180_000);
  afterAll(() => {
    align?.dispose();
    lora?.dispose();
    ort?.dispose();
    sam?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function timed(
    o: Partial<EvaluateBoxPromptsOptions>,
  ): Promise<{ r: BoxPromptEvaluation; msPerImage: number }> {
    const t0 = performance.now();
    const r = await evaluateBoxPrompts({
      sam,
      items,
      transforms: { align, frozen: IDENTITY_ALIGNMENT },
      ...o,
    });
    return { r, msPerImage: (performance.now() - t0) / items.length };
  }

  it('gives the same scores per region on both engines; prints the time per image', async () => {
    await timed({}); // warm-up of both paths (kernels, sessions)
    await timed({ engine: ort });
    const before = tf.memory().numTensors;
    const onTf = await timed({});
    const onOrt = await timed({ engine: ort });
    expect(tf.memory().numTensors).toBe(before);
    let worst = 0;
    for (const name of ['align', 'frozen', 'boxFill']) {
      const a = onTf.r.methods[name];
      const b = onOrt.r.methods[name];
      expect(b.perImage.map((i) => i.id)).toEqual(a.perImage.map((i) => i.id));
      a.perImage.forEach((img, i) =>
        img.regions.forEach((reg, k) => {
          const o = b.perImage[i].regions[k];
          expect(o.classId).toBe(reg.classId);
          for (const key of ['iou', 'dice', 'boundaryIou'] as const)
            worst = Math.max(worst, Math.abs(o[key]! - reg[key]!));
        }),
      );
      // A pixel flips only where |logit| is within rounding of 0: a few pixels of a region at most.
      expect(Math.abs(b.aggregate.iou - a.aggregate.iou)).toBeLessThan(2e-3);
    }
    expect(worst).toBeLessThan(5e-3);
    // The scores are not trivial: the random decoder predicts masks that overlap the regions somewhat.
    expect(onTf.r.methods['frozen'].aggregate.iou).toBeGreaterThan(0);
    // Without boundary IoU (host-side work both engines share), the decoder's part shows more.
    const tfNoBoundary = await timed({ boundary: false });
    const ortNoBoundary = await timed({ engine: ort, boundary: false });
    console.log(
      `without boundary IoU: TF.js ${tfNoBoundary.msPerImage.toFixed(1)} ms, ONNX Runtime ${ortNoBoundary.msPerImage.toFixed(1)} ms ` +
        `(×${(tfNoBoundary.msPerImage / ortNoBoundary.msPerImage).toFixed(2)})`,
    );
    console.log(
      `validation per image (casam-tiny, 256 px, ${onTf.r.methods['align'].aggregate.regions} regions in ${items.length} images, ` +
        `2 transforms): TF.js ${onTf.msPerImage.toFixed(1)} ms, ONNX Runtime ${onOrt.msPerImage.toFixed(1)} ms ` +
        `(×${(onTf.msPerImage / onOrt.msPerImage).toFixed(2)}); largest per-region score difference ${worst.toExponential(1)}`,
    );
  }, 120_000);

  it('decodes a transform with a decoder delta on TF.js, to exactly the TF.js scores', async () => {
    const o = { transforms: { align }, decoderDeltas: { align: lora } };
    const onTf = await evaluateBoxPrompts({ sam, items, ...o });
    const withEngine = await evaluateBoxPrompts({ sam, items, engine: ort, ...o });
    expect(withEngine.methods).toEqual(onTf.methods);
  }, 60_000);
});
