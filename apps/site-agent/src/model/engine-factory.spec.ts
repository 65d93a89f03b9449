import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

  it('takes the engine as one choice, tfjs by default, and names the choices for anything else', async () => {
    expect(DEFAULT_ENGINE).toBe('tfjs');
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
      message: '--engine onnx needs --encoder-onnx <file> and --decoder-onnx <file>',
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

  it("names the home's missing weights (exit 4) and the engine its base model cannot run on yet", async () => {
    const missing = await refusal(() => baseModelFingerprint(home, config(join(dir, 'absent.safetensors'))));
    expect(missing.code).toBe(4);
    expect(missing.message).toMatch(
      /^base-model weights not found: .*absent\.safetensors \(set model\.weights/,
    );
    expect(await refusal(() => loadBaseModel(home, config('x'), log, 'onnx'))).toMatchObject({ code: 2 });
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
