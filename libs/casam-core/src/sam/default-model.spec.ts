import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testing/fixtures';
import { DEFAULT_AL_LR, DEFAULT_LOSS_RESOLUTION } from '../trainer/al-trainer';
import { readSafetensors } from '../weights/safetensors';
import { loadSamWeights } from '../weights/validate';
import { DEFAULT_MODEL_FILE, DEFAULT_PRESET, getPreset } from './config';

// Everything that means "the shipped model" resolves DEFAULT_MODEL_FILE for DEFAULT_PRESET: a switch of the
// default that forgets the weights, or trainer defaults for the new preset, fails here and not at a hospital.
describe('the embedded default model', () => {
  const file = resolve(REPO_ROOT, DEFAULT_MODEL_FILE);

  it('is in the repository and loads as the default preset, which its own metadata names', () => {
    expect(existsSync(file), file).toBe(true);
    const cfg = getPreset(DEFAULT_PRESET);
    const sd = loadSamWeights(file, cfg);
    expect(sd.size).toBeGreaterThan(100);
    const meta = readSafetensors(new Uint8Array(readFileSync(file))).metadata;
    expect((JSON.parse(meta['config']) as { name: string }).name).toBe(DEFAULT_PRESET);
  });

  it('has Alignment Layer defaults of its own (not the vit fallback)', () => {
    expect(DEFAULT_AL_LR[DEFAULT_PRESET]).toBeDefined();
    expect(DEFAULT_LOSS_RESOLUTION[DEFAULT_PRESET]).toBeDefined();
  });
});
