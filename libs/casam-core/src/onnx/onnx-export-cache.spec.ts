import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAdapterFile } from '../casam/adapter-file';
import { initialAlignmentStateDict } from '../casam/align-layer';
import { loadAdapter } from '../casam/routed-segmenter';
import { initialTaskVaeStateDict } from '../casam/task-vae';
import { getPreset } from '../sam/config';
import { randomSamStateDict } from '../sam/random-weights';
import { buildSam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { stateDictFingerprint } from '../weights/fingerprint';
import { useWasm } from './export/onnx-export.testing';
import {
  OnnxExportMismatchError,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  onnxBaseExportName,
} from './onnx-export-cache';

const cfg = getPreset('casam-tiny');
const sd = randomSamStateDict(cfg, 3);
const fp = stateDictFingerprint(sd);

function adapter(taskId: string, seed: number) {
  return loadAdapter(
    writeAdapterFile({
      taskId,
      baseModel: { preset: 'casam-tiny', fingerprint: fp },
      tau: { tau: 1, p95: 1, p99: 1, mean: 0.5, std: 1, n: 10, percentile: 97 },
      align: initialAlignmentStateDict(64, seed),
      vae: initialTaskVaeStateDict(64, seed),
    }),
    64,
  );
}

describe('ONNX export on first use (casam-tiny, random weights)', () => {
  let root: string;
  beforeAll(async () => {
    await useWasm();
    root = mkdtempSync(join(tmpdir(), 'casam-onnx-cache-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('exports and probes once, then serves the checked export from the cache without touching TF.js', async () => {
    const calls = { sd: 0, ref: 0 };
    const lines: string[] = [];
    const opts = {
      cacheRoot: root,
      config: cfg,
      modelFingerprint: fp,
      stateDict: () => (calls.sd++, sd),
      reference: () => (calls.ref++, createTfjsSamEngine(buildSam(cfg, sd))),
      threads: 1,
      log: (l: string) => lines.push(l),
    };
    const first = await ensureOnnxBaseExport(opts);
    expect(first.exported).toBe(true);
    expect(first.exportMs).toBeGreaterThan(0);
    expect(first.probe.passed).toBe(true);
    expect(first.probe.comparisons.map((c) => c.name)).toEqual([
      'image embeddings',
      'mask logits',
      'IoU predictions',
    ]);
    for (const c of first.probe.comparisons) expect(c.maxAbsDiff).toBeLessThan(1e-3);
    expect(first.dir).toBe(join(root, onnxBaseExportName(cfg, fp)));
    expect(existsSync(first.encoderPath) && existsSync(first.decoderPath)).toBe(true);
    expect(lines.join('\n')).toMatch(/exporting casam-tiny to ONNX[\s\S]*probe passed/);
    // Nothing half-written is left beside it.
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);

    const again = await ensureOnnxBaseExport(opts);
    expect(again.exported).toBe(false);
    expect(again.exportMs).toBe(0);
    expect(again.encoderPath).toBe(first.encoderPath);
    expect(calls).toEqual({ sd: 1, ref: 1 });
  });

  it('re-exports when the folder lost a file (a crash or a hand edit), not only when the manifest is gone', async () => {
    const opts = {
      cacheRoot: root,
      config: cfg,
      modelFingerprint: fp,
      stateDict: () => sd,
      reference: () => createTfjsSamEngine(buildSam(cfg, sd)),
      threads: 1,
    };
    const before = await ensureOnnxBaseExport(opts);
    writeFileSync(before.decoderPath, 'truncated');
    const after = await ensureOnnxBaseExport(opts);
    expect(after.exported).toBe(true);
    expect(statSync(after.decoderPath).size).toBe(after.manifest.decoder.bytes);
  });

  it('refuses an export that disagrees with TF.js, remembers it, and does not export again', async () => {
    const other = randomSamStateDict(cfg, 4); // the reference runs other weights: every output differs
    const calls = { sd: 0 };
    const opts = {
      cacheRoot: root,
      config: cfg,
      modelFingerprint: 'sha256:' + '12'.repeat(32),
      stateDict: () => (calls.sd++, sd),
      reference: () => createTfjsSamEngine(buildSam(cfg, other)),
      threads: 1,
    };
    const err = await ensureOnnxBaseExport(opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxExportMismatchError);
    expect((err as Error).message).toMatch(/disagrees with the TF\.js engine.*image embeddings differ by/);
    const name = onnxBaseExportName(cfg, opts.modelFingerprint);
    expect(existsSync(join(root, name))).toBe(false);
    expect(existsSync(join(root, `${name}.rejected.json`))).toBe(true);

    const again = await ensureOnnxBaseExport(opts).catch((e: unknown) => e);
    expect((again as Error).message).toMatch(/delete it to try again/);
    expect(calls.sd).toBe(1);
  });

  it('exports each Alignment Layer once per weights, shared by every bundle that carries it', async () => {
    const a = adapter('spleen', 1);
    const b = adapter('cardiac', 2);
    const first = await ensureOnnxAlignmentLayers(root, cfg, [a, b], { threads: 1 });
    expect([...first.keys()]).toEqual(['spleen', 'cardiac']);
    expect(first.get('spleen')).not.toBe(first.get('cardiac'));
    const mtime = statSync(first.get('spleen')!).mtimeMs;
    // Next bundle: spleen unchanged, cardiac retrained.
    const b2 = adapter('cardiac', 3);
    const next = await ensureOnnxAlignmentLayers(root, cfg, [a, b2], { threads: 1 });
    expect(next.get('spleen')).toBe(first.get('spleen'));
    expect(statSync(next.get('spleen')!).mtimeMs).toBe(mtime);
    expect(next.get('cardiac')).not.toBe(first.get('cardiac'));
    for (const x of [a, b, b2]) {
      x.align.dispose();
      x.vae.dispose();
    }
  });
});
