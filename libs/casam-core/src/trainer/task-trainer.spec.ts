import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { validateAdapterFile } from '../casam/adapter-file';
import { useBackend } from '../casam/casam-fixtures.testing';
import type { SamEngine } from '../sam/engine';
import type { Sam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import { TaskPhase, TaskProgress, TaskStateMismatchError, TrainTaskOptions, trainTask } from './task-trainer';
import { TrainingAbortedError } from './trainer-errors';
import { buildSamMini, samMiniWeights, syntheticItems } from './trainer-fixtures.testing';

const CREATED = new Date('2026-11-26T12:00:00.000Z');

describe('task trainer', () => {
  let dir: string;
  let sam: Sam;
  let engine: SamEngine;
  let calls = 0;

  beforeAll(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'casam-task-'));
    sam = buildSamMini();
    const real = createTfjsSamEngine(sam);
    engine = { ...real, embed: (p) => (calls++, real.embed(p)), dispose: () => undefined };
  });
  afterAll(() => {
    sam.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const train = syntheticItems(6, { seed: 21, prefix: 'tr' });
  const val = syntheticItems(3, { seed: 22, prefix: 'va', width: 80, height: 64 });
  const options = (workDir: string, o: Partial<TrainTaskOptions> = {}): TrainTaskOptions => ({
    taskId: 'synthetic-discs',
    train,
    val,
    engine,
    sam,
    baseModel: { preset: 'sam-mini', fingerprint: samMiniWeights().fingerprint },
    cacheDir: join(dir, 'cache'),
    workDir: join(dir, workDir),
    seed: 1,
    al: { epochs: 2, batchImages: 3, regionsPerImage: 2, lossResolution: 'low' },
    vae: { epochs: 2 },
    createdAt: CREATED,
    ...o,
  });

  it('trains, calibrates, evaluates and writes an adapter the coordinator accepts', async () => {
    const events: TaskProgress[] = [];
    const before = tf.memory().numTensors;
    const r = await trainTask(options('run1', { onProgress: (p) => events.push(p) }));
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toBe(9);
    const order = events.filter((e) => e.status !== 'progress').map((e) => `${e.phase}:${e.status}`);
    const phases: TaskPhase[] = ['embed', 'align', 'features', 'vae', 'tau', 'evaluate', 'write'];
    expect(order).toEqual(phases.flatMap((p) => [`${p}:start`, `${p}:done`]));
    for (const p of ['embed', 'align', 'vae', 'tau', 'evaluate'] as const)
      expect(events.some((e) => e.phase === p && e.status === 'progress')).toBe(true);

    const file = validateAdapterFile(new Uint8Array(readFileSync(r.adapterPath)), { channels: 64 });
    expect(file.metadata).toMatchObject({
      taskId: 'synthetic-discs',
      baseModel: { preset: 'sam-mini', fingerprint: samMiniWeights().fingerprint },
      channels: 64,
      createdAt: CREATED.toISOString(),
      tau: r.tau,
    });
    expect(r.tau.n).toBe(6);
    expect(r.tau.percentile).toBe(97);
    const m = file.metadata.metrics;
    expect(m['iou']).toBe(r.evaluation.align.iou);
    expect(m['frozen_iou']).toBe(r.evaluation.frozen.iou);
    expect(m['boundary_iou']).toBeGreaterThanOrEqual(0);
    expect(m['val_regions']).toBe(6);
    expect(r.evaluation.boxFill.iou).toBeGreaterThan(0.3);
    // sam-mini's weights are random (a parity fixture), so frozen SAM scores near zero here; the point is that
    // the AL, after two tiny epochs, is no worse. bench/al-step.bench.ts --lr-sweep measures real gains.
    expect(r.evaluation.align.iou).toBeGreaterThanOrEqual(r.evaluation.frozen.iou - 0.05);
    expect(r.al.epochLosses).toHaveLength(2);
    expect(r.al.timings!.share.al).toBeGreaterThan(0);
    expect(r.al.lr).toBe(1e-3);
  }, 60_000);

  it('resumes after an interruption without re-running the encoder, to the same adapter bytes', async () => {
    const reference = readFileSync(join(dir, 'run1', 'adapter.safetensors'));
    const ctl = new AbortController();
    await expect(
      trainTask(
        options('run2', {
          signal: ctl.signal,
          onProgress: (p) => p.phase === 'tau' && p.status === 'progress' && p.tau!.fold === 2 && ctl.abort(),
        }),
      ),
    ).rejects.toThrow(TrainingAbortedError);
    expect(existsSync(join(dir, 'run2', 'tau-folds.json'))).toBe(true);
    expect(existsSync(join(dir, 'run2', 'adapter.safetensors'))).toBe(false);

    const noEncoder: SamEngine = {
      ...engine,
      embed: () => Promise.reject(new Error('the encoder ran after the cache was filled')),
    };
    const blindSam: Sam = {
      ...sam,
      imageEncoder: {
        forward: () => {
          throw new Error('the encoder ran after the cache was filled');
        },
        dispose: () => undefined,
      },
    };
    const events: TaskProgress[] = [];
    const r = await trainTask(
      options('run2', { engine: noEncoder, sam: blindSam, onProgress: (p) => events.push(p) }),
    );
    expect(r.cachedPhases).toEqual(['align', 'features', 'vae']);
    expect(
      events.filter((e) => e.phase === 'tau' && e.status === 'progress').map((e) => e.tau!.fold),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(readFileSync(r.adapterPath).equals(reference)).toBe(true);
  }, 60_000);

  it('takes τ at another percentile from the stored held-out scores, training nothing again', async () => {
    const before = validateAdapterFile(
      new Uint8Array(readFileSync(join(dir, 'run1', 'adapter.safetensors'))),
      {
        channels: 64,
      },
    ).metadata.tau;
    const vaes = (await trainTask(options('run1'))).cachedPhases;
    expect(vaes).toEqual(['align', 'features', 'vae', 'tau', 'evaluate']);
    const r = await trainTask(options('run1', { tau: { percentile: 99 } }));
    expect(r.cachedPhases).toEqual(['align', 'features', 'vae', 'tau', 'evaluate']);
    expect(r.tau.percentile).toBe(99);
    expect(r.tau.tau).toBe(before.p99);
    expect([r.tau.p95, r.tau.p99, r.tau.n]).toEqual([before.p95, before.p99, before.n]);
    expect(r.tau.mean).toBeCloseTo(before.mean, 12);
    expect(r.tau.std).toBeCloseTo(before.std, 12);
    const written = validateAdapterFile(new Uint8Array(readFileSync(r.adapterPath)), { channels: 64 });
    expect(written.metadata.tau).toEqual(r.tau);
    // And back: the paper's percentile gives the first adapter's τ again.
    expect((await trainTask(options('run1'))).tau.tau).toBe(before.tau);
  }, 60_000);

  it('resumes a run pinned before the percentile was an option (its hash included the percentile, 97)', async () => {
    const path = join(dir, 'run1', 'task-state.json');
    const st = JSON.parse(readFileSync(path, 'utf8')) as { configHash: string; config: { tau: object } };
    expect(st.config.tau).toEqual({ folds: 5 });
    const legacy = { ...st.config, tau: { folds: 5, percentile: 97 } };
    const legacyHash = createHash('sha256').update(JSON.stringify(legacy)).digest('hex');
    writeFileSync(path, JSON.stringify({ ...st, configHash: legacyHash, config: legacy }));
    await expect(trainTask(options('run1'))).resolves.toMatchObject({ tau: { percentile: 97 } });
    writeFileSync(
      path,
      JSON.stringify({ ...st, configHash: legacyHash.replace(/^./, (c) => (c === '0' ? '1' : '0')) }),
    );
    await expect(trainTask(options('run1'))).rejects.toThrow(TaskStateMismatchError);
    writeFileSync(path, JSON.stringify(st));
  }, 60_000);

  it('refuses to mix runs with other options unless restarted', async () => {
    await expect(trainTask(options('run1', { seed: 2 }))).rejects.toThrow(TaskStateMismatchError);
    await expect(trainTask(options('run1', { taskId: 'bad id!' }))).rejects.toThrow(/taskId/);
    await expect(trainTask(options('run3', { train: train.slice(0, 3) }))).rejects.toThrow(/at least 5/);
  });
});
