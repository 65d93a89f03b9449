/**
 * bench:sam's PyTorch measuring stick (libs/casam-lab/src/bench/torch) is the same model as ours: its embeddings
 * match the TF.js engine's and the official golden ones. Runs only where a python3 with torch exists (Debian
 * python3-torch); CI has none and skips it, as bench:sam skips its PyTorch rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildSam,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  prepareImage,
  randomSamStateDict,
} from '@casam/casam-core';
import { fixturePath, fixtureTensor, maxAbsDiff } from '@casam/casam-core/testing';
// The very code bench:sam uses (in the lab), not a copy of it.
import { findTorchPython, startTorchEncoder } from '@casam/casam-lab';

const torch = findTorchPython();
const dir = mkdtempSync(join(tmpdir(), 'casam-torch-encoder-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!torch)("the lab's PyTorch SAM image encoder", () => {
  it('matches the official golden embeddings and the TF.js engine on the sam-mini fixture', async () => {
    const cfg = getPreset('sam-mini');
    const sd = loadSamWeights(fixturePath('sam-mini/sam-mini.safetensors'), cfg);
    const image = fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'input.preprocessed');
    const enc = await startTorchEncoder({ python: torch!.python, cfg, sd, image, dir, threads: 1 });
    await enc.close();
    const golden = fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'image_embeddings');
    expect(enc.embeddings.shape).toEqual(golden.shape);
    expect(maxAbsDiff(enc.embeddings.data as Float32Array, golden.data as Float32Array)).toBeLessThanOrEqual(
      1e-4,
    );
    await initBackend({ prefer: 'wasm', log: () => {} });
    const engine = createTfjsSamEngine(buildSam(cfg, sd));
    const ours = await engine.embed(image);
    engine.dispose();
    expect(maxAbsDiff(enc.embeddings.data as Float32Array, ours.data as Float32Array)).toBeLessThanOrEqual(
      1e-4,
    );
  });

  it('matches the TF.js engine on random casam-small weights (8-px patches, exact windows)', async () => {
    const cfg = getPreset('casam-small');
    const sd = randomSamStateDict(cfg, 7);
    const px = new Uint8Array(cfg.imgSize * cfg.imgSize * 3).map((_, i) => (i * 37) % 253);
    const image = prepareImage(px, cfg.imgSize, cfg.imgSize, cfg).preprocessed;
    const enc = await startTorchEncoder({ python: torch!.python, cfg, sd, image, dir, threads: 1 });
    const ms = await enc.embedOnce();
    await enc.close();
    expect(ms).toBeGreaterThan(0);
    await initBackend({ prefer: 'wasm', log: () => {} });
    const engine = createTfjsSamEngine(buildSam(cfg, sd));
    const ours = await engine.embed(image);
    engine.dispose();
    expect(enc.embeddings.shape).toEqual(ours.shape);
    expect(maxAbsDiff(enc.embeddings.data as Float32Array, ours.data as Float32Array)).toBeLessThanOrEqual(
      1e-3,
    );
  });
});
