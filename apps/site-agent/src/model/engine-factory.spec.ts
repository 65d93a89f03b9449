import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  ONNX_EXPORTER_VERSION,
  getPreset,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  onnxBaseExportName,
  writeAdapterFile,
} from '@casam/casam-core';
import { constantDecoderLora } from '@casam/casam-core/testing';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../cli/errors';
import { type AgentConfig, AgentHome } from '../home/agent-home';
import { writeRandomTinyModel } from '../testing/agent-cli.testing';
import {
  baseModelFingerprint,
  createEngine,
  DEFAULT_ENGINE,
  loadBaseModel,
  parseEngineChoice,
} from './engine-factory';

/** The UserError a call fails with: its exit code and message. */
async function refusal(run: () => unknown): Promise<{ code: number; message: string }> {
  try {
    await run();
  } catch (e) {
    if (e instanceof UserError) return { code: e.exitCode, message: e.message };
    throw e;
  }
  throw new Error('expected a UserError');
}

describe('engine factory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-engine-factory-'));
  const home = new AgentHome(join(dir, 'home'));
  const config = (weights: string): AgentConfig => ({
    version: 1,
    coordinatorUrl: 'http://127.0.0.1:9',
    siteName: 'Test',
    model: { preset: 'casam-tiny', weights },
    backend: 'cpu',
    serve: { host: '127.0.0.1', port: 0, maxRequestBytes: 1024 },
  });
  const log = () => {};
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the engine as one choice, ONNX Runtime by default, and names the choices for anything else', async () => {
    expect(DEFAULT_ENGINE).toBe('onnx');
    expect(parseEngineChoice('onnx')).toBe('onnx');
    expect(await refusal(() => parseEngineChoice('torch'))).toEqual({
      code: 2,
      message: '--engine must be tfjs or onnx, got "torch"',
    });
  });

  it('refuses what the flags get wrong before loading anything, each with its exit code', async () => {
    expect(await refusal(() => createEngine('tfjs', { model: 'vit_q' }, log))).toMatchObject({ code: 2 });
    expect(await refusal(() => createEngine('onnx', { model: 'casam-tiny' }, log))).toEqual({
      code: 2,
      message:
        '--engine onnx needs --checkpoint <file> (exported on first use) or --encoder-onnx <file> and --decoder-onnx <file>',
    });
    expect(await refusal(() => createEngine('tfjs', { model: 'casam-tiny' }, log))).toEqual({
      code: 2,
      message: '--checkpoint <file> is required for model "casam-tiny" (a .pth or .safetensors file)',
    });
    const missing = join(dir, 'nope.pth');
    expect(
      await refusal(() => createEngine('tfjs', { model: 'casam-tiny', checkpoint: missing }, log)),
    ).toEqual({ code: 3, message: `checkpoint not found: ${missing}` });
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not weights');
    const backend = await refusal(() =>
      createEngine('tfjs', { model: 'casam-tiny', checkpoint: junk, backend: 'gpu' }, log),
    );
    expect(backend.code).toBe(2);
    expect(backend.message).toMatch(/^--backend must be one of auto, .*got "gpu"$/);
  });

  it("names the home's missing weights (exit 4)", async () => {
    const missing = await refusal(() => baseModelFingerprint(home, config(join(dir, 'absent.safetensors'))));
    expect(missing.code).toBe(4);
    expect(missing.message).toMatch(
      /^base-model weights not found: .*absent\.safetensors \(set model\.weights/,
    );
    expect(await refusal(() => loadBaseModel(home, config('x'), log, 'onnx'))).toMatchObject({ code: 4 });
  });

  it("runs the home's base model on ONNX Runtime by default: exported and probed once, then from the cache", async () => {
    const weights = join(dir, 'tiny-onnx.safetensors');
    writeRandomTinyModel(weights);
    const c = config(weights);
    home.ensureDir();
    const lines: string[] = [];
    const first = await loadBaseModel(home, c, (l) => lines.push(l));
    expect(first.engine.kind).toBe('onnx');
    expect(lines.join('\n')).toMatch(
      /exporting casam-tiny to ONNX[\s\S]*probe passed[\s\S]*engine: onnxruntime-node/,
    );
    const seg = await first.createSegmenter([]);
    const img = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90) };
    const p = await seg.segment(img, { box: [8, 8, 40, 30] });
    expect(p.route.decision.kind).toBe('fallback');
    seg.dispose();
    first.engine.dispose();

    lines.length = 0;
    const again = await loadBaseModel(home, c, (l) => lines.push(l));
    expect(again.engine.kind).toBe('onnx');
    expect(lines.join('\n')).not.toMatch(/exporting/);
    again.engine.dispose();

    expect((await loadBaseModel(home, c, log, 'tfjs')).engine.kind).toBe('tfjs');

    // A bundle task with a decoder delta (version 2 adapter) gets its own ONNX decoder (delta merged, probed
    // against TF.js, cached): the whole bundle stays on ORT.
    const adapter = (taskId: string, lora: boolean) =>
      loadAdapter(
        writeAdapterFile({
          taskId,
          baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ab'.repeat(32) },
          tau: { tau: 1e9, p95: 1e9, p99: 1e9, mean: 1, std: 1, n: 10, percentile: 97 },
          align: initialAlignmentStateDict(64, 1),
          vae: initialTaskVaeStateDict(64, 1),
          ...(lora ? { decoderLora: constantDecoderLora(64) } : {}),
        }),
        64,
      );
    lines.length = 0;
    const third = await loadBaseModel(home, c, (l) => lines.push(l));
    const routed = await third.createSegmenter([adapter('plain', false), adapter('with-delta', true)]);
    const answer = await routed.segment(img, { box: [8, 8, 40, 30] });
    expect(answer.route.decision.kind).toBe('task');
    expect((routed as { engine?: { kind: string } }).engine?.kind).toBe('onnx');
    expect(lines.join('\n')).toMatch(/exported task with-delta's decoder \(delta merged\) to ONNX/);
    expect(lines.join('\n')).not.toMatch(/warning|run on TF\.js/);
    routed.dispose();
    lines.length = 0;
    const cached = await third.createSegmenter([adapter('with-delta', true)]);
    expect((await cached.segment(img, { box: [8, 8, 40, 30] })).route.decision.kind).toBe('task');
    expect(lines).toEqual([]);
    cached.dispose();
    third.engine.dispose();
  });

  it('says so and runs TF.js when the ONNX export was refused', async () => {
    const weights = join(dir, 'tiny-refused.safetensors');
    writeRandomTinyModel(weights, 8);
    const c = config(weights);
    const fp = baseModelFingerprint(home, c);
    mkdirSync(home.onnxCacheDir, { recursive: true });
    const refused = {
      passed: false,
      tolerance: 1e-3,
      exporterVersion: ONNX_EXPORTER_VERSION,
      ms: 1,
      comparisons: [{ name: 'image embeddings', maxAbsDiff: 1, referenceMaxAbs: 1, allowed: 1e-3 }],
    };
    writeFileSync(
      join(home.onnxCacheDir, `${onnxBaseExportName(getPreset('casam-tiny'), fp)}.rejected.json`),
      JSON.stringify(refused),
    );
    const lines: string[] = [];
    const base = await loadBaseModel(home, c, (l) => lines.push(l));
    expect(base.engine.kind).toBe('tfjs');
    expect(lines.join('\n')).toMatch(
      /warning: ONNX Runtime is not used \(.*disagrees with the TF\.js engine.*\); engine: tfjs/,
    );
  });

  it("fingerprints the home's base model once and reads it from the cache afterwards", () => {
    const weights = join(dir, 'tiny.safetensors');
    writeRandomTinyModel(weights);
    const c = config(weights);
    home.ensureDir();
    const fp = baseModelFingerprint(home, c);
    expect(fp).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(join(home.dir, 'base-model.json'))).toBe(true);
    expect(baseModelFingerprint(home, c)).toBe(fp);
  });
});
