import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import type { Sam } from '../sam/sam';
import { StateDict, toFloat32 } from '../tensor/host-tensor';
import { AlCheckpointError, readAlCheckpoint } from './al-checkpoint';
import {
  AlTrainingProgress,
  DEFAULT_AL_LR,
  TrainAlignmentLayerOptions,
  defaultAlLr,
  defaultLossResolution,
  trainAlignmentLayer,
} from './al-trainer';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import { EmbeddedSamMini, embeddedSamMini, smallAlOptions } from './embedded-sam-mini.testing';
import type { EmbeddedItem } from './training-item';

function sameWeights(a: StateDict, b: StateDict): boolean {
  for (const [k, v] of a) {
    const x = toFloat32(v);
    const y = toFloat32(b.get(k)!);
    if (x.length !== y.length || x.some((e, i) => e !== y[i])) return false;
  }
  return a.size === b.size;
}

describe('Alignment Layer trainer', () => {
  let fx: EmbeddedSamMini;
  let dir: string;
  let sam: Sam;
  let items: EmbeddedItem[];

  beforeAll(async () => {
    fx = await embeddedSamMini(4, 3, 'casam-al-');
    ({ dir, sam, items } = fx);
  });
  afterAll(() => fx.dispose());

  /** Small, fast settings; the encoder of `sam` is never needed. */
  const base = (o: Partial<TrainAlignmentLayerOptions> = {}): TrainAlignmentLayerOptions =>
    smallAlOptions(sam, items.slice(0, 3), o);

  it('lowers the loss on a toy task (one region, one fixed box)', async () => {
    const one: EmbeddedItem = { ...items[0], masks: [items[0].masks[0]] };
    const steps: number[] = [];
    const r = await trainAlignmentLayer(
      base({
        items: [one],
        epochs: 8,
        batchImages: 1,
        regionsPerImage: 1,
        lr: 1e-2,
        jitter: { p: 0 },
        prompts: { boxProbability: 1, boxJitter: { fraction: 0 } },
        lossWeights: { iou: 0 },
        onProgress: (p) => p.kind === 'step' && steps.push(p.loss),
      }),
    );
    r.align.dispose();
    expect(steps).toHaveLength(8);
    expect(steps[7]).toBeLessThan(steps[0] - 0.01);
    expect(r.epochLosses[7]).toBe(steps[7]);
  });

  it('never runs the encoder, leaks no tensors, reports progress and phase timings', async () => {
    const noEncoder: Sam = {
      ...sam,
      imageEncoder: {
        forward: () => {
          throw new Error('the encoder ran during training');
        },
        dispose: () => undefined,
      },
    };
    const before = tf.memory().numTensors;
    const events: AlTrainingProgress[] = [];
    // checkLeaks (default on) compares the tensor count around every step and throws on a difference.
    const r = await trainAlignmentLayer(
      base({ sam: noEncoder, lossResolution: 'input', onProgress: (p) => events.push(p) }),
    );
    expect(r.align.parameterCount()).toBe(3 * (2 * (64 * 64 * 9 + 64) + 3) + 128);
    r.align.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(events.map((e) => `${e.kind}${e.epoch}.${e.step}`)).toEqual([
      'step1.1',
      'step1.2',
      'epoch1.2',
      'step2.1',
      'step2.2',
      'epoch2.2',
    ]);
    expect(events[5].etaS).toBe(0);
    expect(events[0].terms!.focal).toBeGreaterThan(0);
    const t = r.timings;
    expect(t.steps).toBe(4);
    expect(t.secondsPerEpoch).toHaveLength(2);
    for (const v of Object.values(t.phasesMs)) expect(v).toBeGreaterThan(0);
    const s = t.share;
    expect(s.al + s.decoder + s.loss + s.data + s.optimizer).toBeCloseTo(1, 6);
  });

  it('is reproducible for a seed and differs across seeds', async () => {
    const a = await trainAlignmentLayer(base());
    const b = await trainAlignmentLayer(base());
    const c = await trainAlignmentLayer(base({ seed: 6 }));
    try {
      expect(sameWeights(a.align.stateDict(), b.align.stateDict())).toBe(true);
      expect(a.epochLosses).toEqual(b.epochLosses);
      expect(sameWeights(a.align.stateDict(), c.align.stateDict())).toBe(false);
    } finally {
      [a, b, c].forEach((r) => r.align.dispose());
    }
  });

  it('resumes from a checkpoint (mid-epoch or at an epoch end) to the same weights as an uninterrupted run', async () => {
    const full = await trainAlignmentLayer(base({ epochs: 3, checkpoint: { path: join(dir, 'full.ck') } }));
    const path = join(dir, 'resumed.ck');
    const ctl = new AbortController();
    await expect(
      trainAlignmentLayer(
        base({
          epochs: 3,
          checkpoint: { path, everySteps: 1 },
          signal: ctl.signal,
          onProgress: (p) => p.kind === 'step' && p.epoch === 2 && p.step === 1 && ctl.abort(),
        }),
      ),
    ).rejects.toThrow(TrainingAbortedError);
    expect(readAlCheckpoint(path)!.meta).toMatchObject({ completedEpochs: 1, stepInEpoch: 1 });
    const resumed = await trainAlignmentLayer(base({ epochs: 3, checkpoint: { path, everySteps: 1 } }));
    // A finished run extended by one epoch equals a 4-epoch run too (no schedule depends on the epoch count).
    const extended = await trainAlignmentLayer(base({ epochs: 4, checkpoint: { path } }));
    const four = await trainAlignmentLayer(base({ epochs: 4 }));
    try {
      expect(resumed.resumedFrom).toEqual({ epoch: 1, step: 1 });
      expect(resumed.timings.steps).toBe(3);
      expect(sameWeights(full.align.stateDict(), resumed.align.stateDict())).toBe(true);
      expect(resumed.epochLosses).toEqual(full.epochLosses);
      expect(extended.resumedFrom).toEqual({ epoch: 3, step: 0 });
      expect(sameWeights(extended.align.stateDict(), four.align.stateDict())).toBe(true);
    } finally {
      [full, resumed, extended, four].forEach((r) => r.align.dispose());
    }
    await expect(
      trainAlignmentLayer(base({ epochs: 3, seed: 9, checkpoint: { path: join(dir, 'full.ck') } })),
    ).rejects.toThrow(AlCheckpointError);
  }, 60_000);

  it('gives the same step in prompt chunks as in one pass', async () => {
    const events: number[][] = [];
    const record = (i: number) => (p: AlTrainingProgress) => {
      if (p.kind === 'step') (events[i] ??= []).push(p.loss);
    };
    const before = tf.memory().numTensors;
    const whole = await trainAlignmentLayer(
      base({ epochs: 1, lossResolution: 'input', onProgress: record(0) }),
    );
    const chunked = await trainAlignmentLayer(
      base({ epochs: 1, lossResolution: 'input', maxPromptsPerPass: 3, onProgress: record(1) }),
    );
    try {
      events[0].forEach((l, i) => expect(events[1][i]).toBeCloseTo(l, 5));
      const a = whole.align.stateDict();
      const b = chunked.align.stateDict();
      let worst = 0;
      for (const [k, v] of a) {
        const x = toFloat32(v);
        const y = toFloat32(b.get(k)!);
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      }
      expect(worst).toBeLessThan(1e-5);
      expect(chunked.timings.phasesMs.decoderBackward).toBeGreaterThan(0);
    } finally {
      whole.align.dispose();
      chunked.align.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves out images without regions and refuses unusable input', async () => {
    const empty: EmbeddedItem = {
      ...items[3],
      masks: [{ classId: 'none', mask: new Uint8Array(64 * 64) }],
    };
    const r = await trainAlignmentLayer(base({ items: [items[0], empty], epochs: 1 }));
    r.align.dispose();
    expect(r.skippedImages).toEqual([empty.id]);
    await expect(trainAlignmentLayer(base({ items: [empty] }))).rejects.toThrow(/no training image/);
    await expect(trainAlignmentLayer(base({ channels: 256 }))).rejects.toThrow(TrainerInputError);
    await expect(trainAlignmentLayer(base({ batchImages: 0 }))).rejects.toThrow(TrainerInputError);
    const badMask = { ...items[0], masks: [{ classId: 'x', mask: new Uint8Array(10) }] };
    await expect(trainAlignmentLayer(base({ items: [badMask] }))).rejects.toThrow(/10 values/);
  });

  it('defaults the learning rate and the loss frame per preset', () => {
    expect(defaultLossResolution('vit_b')).toBe('input');
    expect(defaultLossResolution('casam-tiny')).toBe('low');
    expect(defaultLossResolution('someone-elses-export')).toBe('input');
    expect(defaultAlLr('vit_b')).toBe(1e-4);
    expect(defaultAlLr('vit_h')).toBe(1e-4);
    expect(defaultAlLr('casam-tiny')).toBe(DEFAULT_AL_LR['casam-tiny']);
    expect(defaultAlLr('someone-elses-export')).toBe(1e-4);
  });
});
