import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BenchModelError, loadBenchModel } from './bench-model';

const root = resolve(__dirname, '../../../..');
const TINY = join(root, 'models/casam-tiny/casam-tiny.safetensors');
const CHECKPOINT = join(root, 'models/casam-tiny-v2/checkpoints/latest.safetensors');

describe('loadBenchModel', () => {
  it('loads shipped weights for a preset, with their fingerprint', () => {
    const m = loadBenchModel(TINY);
    expect(m).toMatchObject({ label: 'casam-tiny', step: null, path: TINY });
    expect(m.cfg.name).toBe('casam-tiny');
    expect(m.fingerprint).toMatch(/^sha256:/);
    expect(m.sd.size).toBeGreaterThan(100);
  });

  it.runIf(existsSync(CHECKPOINT))('loads a pretraining checkpoint under its own preset and step', () => {
    const m = loadBenchModel(CHECKPOINT);
    expect(m.label).toMatch(/^casam-tiny@\d+$/);
    expect(m.step).toBeGreaterThan(0);
    expect(m.fingerprint).not.toBe(loadBenchModel(TINY).fingerprint);
  });

  it('refuses a missing file (with the hint), an unknown preset and weights of another preset', () => {
    expect(() => loadBenchModel('/nope.safetensors', { notFoundHint: 'run pretrain' })).toThrow(
      new BenchModelError('model /nope.safetensors not found. run pretrain'),
    );
    expect(() => loadBenchModel(TINY, { preset: 'vit_q' })).toThrow(/unknown preset vit_q/);
    expect(() => loadBenchModel(TINY, { preset: 'sam-mini' })).toThrow(BenchModelError);
  });
});
