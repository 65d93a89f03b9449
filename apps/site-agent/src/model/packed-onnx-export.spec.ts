import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOnnxBaseExport, getPreset } from '@casam/casam-core';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { writeRandomTinyModel } from '../testing/agent-cli.testing';
import { exportCheckpointOnnx } from '../use-cases/export-onnx';
import { installPackedOnnxExport } from './packed-onnx-export';

describe('installPackedOnnxExport (the offline bundle export placed by init)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-packed-onnx-'));
  const packed = join(dir, 'program', 'models', 'casam-tiny', 'onnx-cache');
  const bundled = join(dir, 'bundled.safetensors');
  const other = join(dir, 'other.safetensors');
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const homeWith = (name: string, weights: string, preset = 'casam-tiny') => {
    const home = new AgentHome(join(dir, name));
    home.ensureDir();
    const c = { version: 1, model: { preset, weights } } as AgentConfig;
    return { home, c };
  };

  beforeAll(async () => {
    writeRandomTinyModel(bundled, 7);
    writeRandomTinyModel(other, 8);
    await exportCheckpointOnnx(
      { model: 'casam-tiny', checkpoint: bundled, backend: 'wasm' },
      packed,
      () => {},
    );
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("copies the export of the home's very weights; the first use then finds it and exports nothing", async () => {
    const { home, c } = homeWith('same', bundled);
    const dest = installPackedOnnxExport(packed, home, c, log);
    expect(dest).toBe(join(home.onnxCacheDir, readdirSync(packed)[0]));
    expect(lines.pop()).toMatch(/placed the bundled ONNX export of casam-tiny in .*not exported again/);
    expect(readdirSync(home.onnxCacheDir)).toEqual([readdirSync(packed)[0]]);
    const found = await ensureOnnxBaseExport({
      cacheRoot: home.onnxCacheDir,
      config: getPreset('casam-tiny'),
      modelFingerprint: (
        JSON.parse(readFileSync(join(dest!, 'onnx-export.json'), 'utf8')) as { modelFingerprint: string }
      ).modelFingerprint,
      stateDict: () => {
        throw new Error('must not export');
      },
      reference: () => {
        throw new Error('must not probe');
      },
    });
    expect(found.exported).toBe(false);
    // init --force again: kept.
    expect(installPackedOnnxExport(packed, home, c, log)).toBe(dest);
    expect(lines.pop()).toMatch(/kept the ONNX export/);
  });

  it('places nothing for other weights, another preset, missing weights or a checkout without a packed export', () => {
    const o = homeWith('other', other);
    expect(installPackedOnnxExport(packed, o.home, o.c, log)).toBeNull();
    expect(existsSync(o.home.onnxCacheDir)).toBe(false);
    const p = homeWith('preset', bundled, 'sam-mini');
    expect(installPackedOnnxExport(packed, p.home, p.c, log)).toBeNull();
    const m = homeWith('missing', join(dir, 'nope.safetensors'));
    expect(installPackedOnnxExport(packed, m.home, m.c, log)).toBeNull();
    const s = homeWith('checkout', bundled);
    expect(installPackedOnnxExport(join(dir, 'no-such-dir'), s.home, s.c, log)).toBeNull();
    expect(lines).toEqual([]);
  });
});
