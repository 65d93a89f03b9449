import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { validateAdapterFile } from '../casam/adapter-file';
import { useBackend } from '../casam/casam-fixtures.testing';
import type { Sam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { TrainTaskOptions, trainTask } from './task-trainer';
import { buildSamMini, samMiniWeights, syntheticItems } from './trainer-fixtures.testing';

const CREATED = new Date('2026-11-26T12:00:00.000Z');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('task trainer with a decoder LoRA delta', () => {
  let dir: string;
  let sam: Sam;

  beforeAll(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'casam-task-lora-'));
    sam = buildSamMini();
  });
  afterAll(() => {
    sam.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const train = syntheticItems(6, { seed: 21, prefix: 'tr' });
  const val = syntheticItems(3, { seed: 22, prefix: 'va', width: 80, height: 64 });
  const options = (workDir: string, o: Partial<TrainTaskOptions['al']> = {}): TrainTaskOptions => ({
    taskId: 'synthetic-discs',
    train,
    val,
    engine: createTfjsSamEngine(sam),
    sam,
    baseModel: { preset: 'sam-mini', fingerprint: samMiniWeights().fingerprint },
    cacheDir: join(dir, 'cache'),
    workDir: join(dir, workDir),
    seed: 1,
    al: { epochs: 2, batchImages: 3, regionsPerImage: 2, lossResolution: 'low', ...o },
    vae: { epochs: 2 },
    createdAt: CREATED,
  });

  it('writes a version 2 adapter with the delta, evaluated with the AL; a rerun reads the phase back', async () => {
    const before = tf.memory().numTensors;
    const r = await trainTask(options('lora', { decoderLora: { rank: 2 } }));
    expect(tf.memory().numTensors).toBe(before);
    const bytes = new Uint8Array(readFileSync(r.adapterPath));
    const file = validateAdapterFile(bytes, { channels: 64 });
    expect(file.metadata.version).toBe(2);
    expect(file.metadata.decoderLora).toMatchObject({ rank: 2, alpha: 2 });
    expect(file.metadata.decoderLora!.layers).toHaveLength(40);
    expect(file.decoderLora!.size).toBe(80);
    expect([...file.decoderLora!.values()].some((t) => (t.data as Float32Array).some((x) => x !== 0))).toBe(
      true,
    );

    const plain = await trainTask(options('plain'));
    expect(
      validateAdapterFile(new Uint8Array(readFileSync(plain.adapterPath)), { channels: 64 }).metadata.version,
    ).toBe(1);
    expect(existsSync(join(dir, 'plain', 'decoder-lora.safetensors'))).toBe(false);
    // Same AL seed and first step; the delta makes the trained adapter (and its evaluation) differ.
    expect(r.evaluation.frozen).toEqual(plain.evaluation.frozen);
    expect(r.evaluation.align.iou).not.toBe(plain.evaluation.align.iou);

    const again = await trainTask(options('lora', { decoderLora: { rank: 2 } }));
    expect(again.cachedPhases).toEqual(expect.arrayContaining(['align', 'evaluate']));
    expect(sha(new Uint8Array(readFileSync(again.adapterPath)))).toBe(sha(bytes));
  });
});
