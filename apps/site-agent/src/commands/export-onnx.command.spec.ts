import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRgbPng, getPreset, onnxBaseExportName } from '@casam/casam-core';
import { AgentHome } from '../home/agent-home';
import { baseModelFingerprint } from '../model/engine-factory';
import { agentCli, initOfflineHome, writeRandomTinyModel } from '../testing/agent-cli.testing';
import { installTestBundle, testSigner } from '../testing/signed-bundle.testing';

describe('site-agent export-onnx (real CLI processes, random tiny base model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-export-onnx-'));
  const home = new AgentHome(join(dir, 'home'));
  const weights = join(dir, 'tiny.safetensors');
  let exportDir = '';

  beforeAll(async () => {
    writeRandomTinyModel(weights);
    await initOfflineHome(home.dir, 'Export site', weights);
    exportDir = join(
      home.onnxCacheDir,
      onnxBaseExportName(getPreset('casam-tiny'), baseModelFingerprint(home, home.readConfig())),
    );
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the home export where segment looks, so segment does not export again', async () => {
    const r = await agentCli(home.dir, ['export-onnx']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^exported casam-tiny \(sha256:[0-9a-f]{16}…\) in \d+\.\d s, probe passed in \d+\.\d s/,
    );
    expect(r.stdout).toContain(exportDir);
    expect(r.stdout).toMatch(/image encoder +\d+\.\d\d MiB/);
    expect(r.stdout).toMatch(/probe vs tfjs: image embeddings \d\.\de-\d+, mask logits/);
    expect(existsSync(join(exportDir, 'probe.json'))).toBe(true);
    expect(r.stderr).toMatch(/no router bundle installed/);

    const image = join(dir, 'scan.png');
    writeFileSync(
      image,
      encodeRgbPng({ width: 96, height: 80, data: new Uint8Array(96 * 80 * 3).map((_, i) => (i * 5) % 251) }),
    );
    const seg = await agentCli(home.dir, [
      'segment',
      '--image',
      image,
      '--out',
      join(dir, 'm.png'),
      '--box',
      '10,10,60,60',
    ]);
    expect(seg.code, seg.stderr).toBe(0);
    expect(seg.stderr).toMatch(/engine: onnxruntime-node/);
    expect(seg.stderr).not.toMatch(/exporting/);

    const again = await agentCli(home.dir, ['export-onnx']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/was already exported and checked/);
    expect(again.stderr).not.toMatch(/exporting/);
  }, 180_000);

  it("exports the installed bundle's Alignment Layers into onnx-cache/align/, once", async () => {
    await installTestBundle(home, 1, await testSigner(), {
      base: baseModelFingerprint(home, home.readConfig()),
      tau: 1e9,
    });
    const r = await agentCli(home.dir, ['export-onnx']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/was already exported and checked/);
    expect(r.stdout).toMatch(
      /Alignment Layer of task \S+ +\d+\.\d KiB +\S+\/onnx-cache\/align\/[0-9a-f]{24}-c\d+-x\d+\.onnx\n/,
    );
    expect(r.stderr).toMatch(/exported task \S+'s Alignment Layer to ONNX/);
    expect(readdirSync(join(home.onnxCacheDir, 'align'))).toHaveLength(1);
    const again = await agentCli(home.dir, ['export-onnx']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Alignment Layer of task .*\(already there\)/);
  }, 120_000);

  it('exits 4 on a refused export and exports again with --force', async () => {
    const rejected = `${exportDir}.rejected.json`;
    writeFileSync(
      rejected,
      JSON.stringify({
        passed: false,
        tolerance: 1e-3,
        exporterVersion: 'x',
        comparisons: [{ name: 'image embeddings', maxAbsDiff: 0.5, referenceMaxAbs: 1, allowed: 1e-3 }],
        ms: 1,
      }),
    );
    const r = await agentCli(home.dir, ['export-onnx']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /site-agent: error: the ONNX export of preset casam-tiny disagrees with the TF\.js engine.*delete it to try again.*run on tfjs/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const forced = await agentCli(home.dir, ['export-onnx', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^exported casam-tiny/);
    expect(existsSync(rejected)).toBe(false);
  }, 180_000);

  it('exports a checkpoint without a home into --out, laid out as a cache', async () => {
    const out = join(dir, 'out');
    const r = await agentCli(join(dir, 'no-home'), [
      'export-onnx',
      '--model',
      'casam-tiny',
      '--checkpoint',
      weights,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual([exportDir.split('/').pop()]);
    expect(existsSync(join(dir, 'no-home'))).toBe(false);
  }, 180_000);

  it('refuses bad flags with the usual exit codes', async () => {
    const missing = await agentCli(home.dir, [
      'export-onnx',
      '--model',
      'casam-tiny',
      '--checkpoint',
      join(dir, 'nope.safetensors'),
      '--out',
      join(dir, 'o2'),
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/checkpoint not found: .*nope\.safetensors/);
    const noOut = await agentCli(home.dir, ['export-onnx', '--model', 'casam-tiny', '--checkpoint', weights]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/missing required option --out/);
    const preset = await agentCli(home.dir, [
      'export-onnx',
      '--model',
      'vit_x',
      '--checkpoint',
      weights,
      '--out',
      dir,
    ]);
    expect(preset.code).toBe(2);
    const noHome = await agentCli(join(dir, 'empty'), ['export-onnx']);
    expect(noHome.code).toBe(2);
    expect(noHome.stderr).toMatch(/no agent configuration/);
  }, 120_000);
});
