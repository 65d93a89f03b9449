import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  tf,
  initBackend,
  getPreset,
  StateDict,
  toFloat32,
  loadSamWeights,
  createAdam,
  decodeImage,
} from '@casam/casam-core';
import { buildBatch } from './batch';
import { PretrainCheckpointError, loadCheckpoint, saveCheckpoint } from './checkpoint-io';
import { exportPretrainedModel, readLogHistory } from './export-model';
import { createGenericCorpus } from './generic-corpus';
import { initSamStateDict } from './init-weights';
import {
  CHECKPOINT_FILE,
  LOG_FILE,
  PretrainOptions,
  PretrainOptionsError,
  learningRate,
  pretrain,
  resolvePretrainOptions,
  stepSamples,
  trainStep,
} from './pretrainer';
import { createTrainableSam } from './trainable-sam';

const cfg = getPreset('casam-tiny');

function identical(a: StateDict, b: StateDict): boolean {
  for (const [k, t] of a) {
    const x = toFloat32(t);
    const y = toFloat32(b.get(k)!);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  }
  return a.size === b.size;
}

describe('pretrainer', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'casam-pretrain-'));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('schedules the learning rate: linear warm-up, then cosine down to the floor', () => {
    const o = resolvePretrainOptions({
      outDir: '.',
      steps: 1000,
      lr: 1e-3,
      warmupSteps: 100,
      minLrFraction: 0.1,
    });
    expect(learningRate(o, 0)).toBeCloseTo(1e-5, 12);
    expect(learningRate(o, 99)).toBeCloseTo(1e-3, 12);
    expect(learningRate(o, 100)).toBeCloseTo(1e-3, 12);
    expect(learningRate(o, 550)).toBeCloseTo(0.55e-3, 9);
    expect(learningRate(o, 1000)).toBeCloseTo(1e-4, 12);
    expect(() => resolvePretrainOptions({ outDir: '.', steps: 0 })).toThrow(PretrainOptionsError);
    expect(resolvePretrainOptions({ outDir: '.', steps: 0, initWeights: new Map() }).steps).toBe(0);
    expect(() => resolvePretrainOptions({ outDir: '.', steps: 5, lr: 2 })).toThrow(PretrainOptionsError);
  });

  it('a few steps on a tiny fixed batch lower the loss, and no step leaks tensors', () => {
    const model = createTrainableSam(cfg, initSamStateDict(cfg, 5));
    const adam = createAdam(model.variables, { lr: 1e-3, clipNorm: 1 });
    const corpus = createGenericCorpus({ seed: 21, targetsPerImage: 2 });
    const batch = buildBatch(stepSamples(corpus, 0, 2), cfg);
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = tf.memory().numTensors;
      losses.push(trainStep(model, adam, batch, 2e-3).loss);
      expect(tf.memory().numTensors).toBe(before);
    }
    adam.dispose();
    model.dispose();
    console.log(`overfit losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.05);
  });

  it('with a frozen image encoder, trains the decoder and prompt encoder only, leaking no tensors', () => {
    const start = initSamStateDict(cfg, 6);
    const model = createTrainableSam(cfg, start);
    const adam = createAdam(model.variables, { lr: 1e-3, clipNorm: 1 });
    const corpus = createGenericCorpus({ seed: 22, targetsPerImage: 2, version: 3 });
    const batch = buildBatch(stepSamples(corpus, 0, 2), cfg);
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = tf.memory().numTensors;
      losses.push(trainStep(model, adam, batch, 2e-3, true).loss);
      expect(tf.memory().numTensors).toBe(before);
    }
    const after = model.stateDict();
    adam.dispose();
    model.dispose();
    const changed = (prefix: string): number =>
      [...after.keys()]
        .filter((k) => k.startsWith(prefix))
        .filter((k) => !identical(new Map([[k, after.get(k)!]]), new Map([[k, start.get(k)!]]))).length;
    expect(changed('image_encoder.')).toBe(0);
    expect(changed('mask_decoder.')).toBeGreaterThan(10);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  });

  const tiny = (outDir: string, extra: Partial<PretrainOptions> = {}): PretrainOptions => ({
    outDir,
    steps: 4,
    batch: 1,
    targetsPerImage: 2,
    lr: 1e-3,
    warmupSteps: 2,
    seed: 3,
    evalEvery: 2,
    evalImages: 2,
    checkpointEvery: 1,
    logEvery: 1,
    log: () => undefined,
    ...extra,
  });

  it('stopped and resumed, a run continues bit for bit like an uninterrupted one', async () => {
    const straight = await pretrain(tiny(tmp()));
    expect(straight.finished).toBe(true);
    expect(straight.step).toBe(4);

    const dir = tmp();
    const controller = new AbortController();
    const first = await pretrain(
      tiny(dir, {
        signal: controller.signal,
        log: (line) => {
          if (line.startsWith('step 1/')) controller.abort();
        },
      }),
    );
    expect(first.finished).toBe(false);
    expect(first.step).toBe(1);
    const ckpt = loadCheckpoint(join(dir, CHECKPOINT_FILE));
    expect(ckpt.meta.step).toBe(1);
    expect(ckpt.meta.nextSample).toBe(1);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['latest.safetensors']); // no temp file left

    const lines: string[] = [];
    const second = await pretrain(tiny(dir, { log: (l) => lines.push(l) }));
    expect(lines[0]).toMatch(/^resuming .* at step 1/);
    expect(second.finished).toBe(true);
    expect(second.step).toBe(4);
    expect(identical(second.weights, straight.weights)).toBe(true);
    expect(second.lastEval?.boxIou).toBe(straight.lastEval?.boxIou);

    // The log holds each step's entry once and the evaluations at steps 0, 2 and 4.
    const log = readFileSync(join(dir, LOG_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number });
    expect(log.filter((e) => e.type === 'train').map((e) => e.step)).toEqual([1, 2, 3, 4]);
    expect(log.filter((e) => e.type === 'eval').map((e) => e.step)).toEqual([0, 2, 4]);

    // A checkpoint from another seed is refused rather than silently mixed.
    await expect(pretrain(tiny(dir, { seed: 4 }))).rejects.toThrow(PretrainCheckpointError);
  });

  it('logs freezing and unfreezing the image encoder as a stage, and the domain evaluation with each evaluation', async () => {
    const dir = tmp();
    const frozen = await pretrain(tiny(dir, { steps: 2, freezeEncoder: true, domainEvalImages: 1 }));
    expect(loadCheckpoint(join(dir, CHECKPOINT_FILE)).meta.options['freezeEncoder']).toBe(true);
    const lines: string[] = [];
    await pretrain(tiny(dir, { steps: 3, evalEvery: 0, log: (l) => lines.push(l) }));
    expect(lines).toContain('image encoder trained again from step 2');
    const log = readFileSync(join(dir, LOG_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number; freezeEncoder?: boolean; domains?: number });
    expect(log.filter((e) => e.type === 'stage')).toEqual([
      expect.objectContaining({ step: 2, freezeEncoder: false }),
    ]);
    const domainEvals = log.filter((e) => e.type === 'eval-domains');
    expect(domainEvals.map((e) => e.step)).toEqual([0, 2]);
    expect(domainEvals[0].domains).toBe(12);
    expect(frozen.step).toBe(2);
  });

  it('exports a checkpoint that loads through loadSamWeights, with a README reporting the held-out IoU', () => {
    const dir = tmp();
    const weights = initSamStateDict(cfg, 9);
    const evalLine = (step: number, boxIou: number): string =>
      JSON.stringify({ type: 'eval', step, elapsed: step, boxIou, boxFillIou: 0.5, pointIou: 0.2 });
    writeFileSync(join(dir, 'training-log.jsonl'), [evalLine(0, 0.1), evalLine(2, 0.3)].join('\n') + '\n');
    const info = {
      command: 'npm run pretrain -- --steps 4',
      seed: 9,
      step: 0,
      imagesSeen: 0,
      elapsedSeconds: 0,
      backend: 'wasm (test)',
      options: { steps: 4 },
      evalImages: 2,
    };
    const r = exportPretrainedModel(dir, cfg, weights, info);
    expect(r.bytes).toBeLessThan(25 * 1024 * 1024);
    expect(identical(loadSamWeights(r.weightsPath, cfg), weights)).toBe(true);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('npm run pretrain -- --steps 4');
    expect(readme).toContain(r.eval.boxFillIou.toFixed(3));
    expect(r.eval.targets).toBe(4);
    // The log's curve is drawn beside it and shown in the README.
    expect(readme).toContain('![held-out IoU over training](training-curve.png)');
    expect(decodeImage(readFileSync(join(dir, 'training-curve.png'))).width).toBe(960);
    // A log the curve cannot read: the export still succeeds, warns, and leaves no stale curve behind.
    writeFileSync(join(dir, 'training-log.jsonl'), ['garbage', evalLine(0, 0.1)].join('\n') + '\n');
    const warnings: string[] = [];
    exportPretrainedModel(dir, cfg, weights, { ...info, evalImages: 1 }, (l) => warnings.push(l));
    expect(warnings).toEqual(['warning: no training-curve.png: line 1 of the training log is not JSON']);
    expect(existsSync(join(dir, 'training-curve.png'))).toBe(false);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).not.toContain('training-curve.png');
    // A log with no evaluation yet has nothing to draw: no warning, and a stale curve is still removed.
    writeFileSync(
      join(dir, 'training-log.jsonl'),
      JSON.stringify({ type: 'train', step: 1, trainIou: 0.2 }) + '\n',
    );
    writeFileSync(join(dir, 'training-curve.png'), 'stale');
    const quiet: string[] = [];
    exportPretrainedModel(dir, cfg, weights, { ...info, evalImages: 1 }, (l) => quiet.push(l));
    expect(quiet).toEqual([]);
    expect(existsSync(join(dir, 'training-curve.png'))).toBe(false);
  });

  it('finds the holes in a training log (a log lost in a crash) next to its evaluations', () => {
    const dir = tmp();
    const path = join(dir, 'training-log.jsonl');
    const train = (step: number): string => JSON.stringify({ type: 'train', step });
    const lines = [
      ...[10, 20, 30, 40].map(train),
      JSON.stringify({ type: 'eval', step: 40, elapsed: 1, boxIou: 0.5, boxFillIou: 0.4, pointIou: 0.3 }),
      ...[50, 60, 300, 310, 320].map(train),
      '{"type":"train","st', // torn last line
    ];
    writeFileSync(path, lines.join('\n'));
    const h = readLogHistory(path);
    expect(h.gaps).toEqual([[60, 300]]);
    expect(h.evals.map((e) => e.step)).toEqual([40]);
    expect(readLogHistory(join(dir, 'none.jsonl'))).toEqual({ evals: [], gaps: [] });
  });

  it('refuses a corrupt checkpoint with a clear error', () => {
    const dir = tmp();
    const path = join(dir, CHECKPOINT_FILE);
    saveCheckpoint(path, {
      meta: {
        format: 'casam-pretrain-checkpoint/1',
        preset: 'casam-tiny',
        step: 0,
        seed: 1,
        nextSample: 0,
        elapsedSeconds: 0,
        options: {},
      },
      weights: new Map(),
      optimizer: new Map(),
    });
    expect(existsSync(path)).toBe(true);
    writeFileSync(path, 'not a checkpoint');
    expect(() => loadCheckpoint(path)).toThrow(PretrainCheckpointError);
  });
});
