import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import type { Sam } from '../sam/sam';
import { StateDict, toFloat32 } from '../tensor/host-tensor';
import { readAlCheckpoint } from './al-checkpoint';
import { TrainAlignmentLayerOptions, trainAlignmentLayer } from './al-trainer';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import { samMiniWeights } from './trainer-fixtures.testing';
import { EmbeddedSamMini, embeddedSamMini, smallAlOptions } from './embedded-sam-mini.testing';
import type { EmbeddedItem } from './training-item';

function digest(sd: StateDict): string {
  const h = createHash('sha256');
  for (const [k, v] of sd) h.update(k).update(new Uint8Array(toFloat32(v).buffer.slice(0)));
  return h.digest('hex');
}

function maxAbsDiff(a: StateDict, b: StateDict): number {
  let m = 0;
  for (const [k, v] of a) {
    const x = toFloat32(v);
    const y = toFloat32(b.get(k)!);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

describe('Alignment Layer trainer with a decoder LoRA delta', () => {
  let fx: EmbeddedSamMini;
  let dir: string;
  let sam: Sam;
  let items: EmbeddedItem[];

  beforeAll(async () => {
    fx = await embeddedSamMini(3, 3, 'casam-al-lora-');
    ({ dir, sam, items } = fx);
  });
  afterAll(() => fx.dispose());

  const base = (o: Partial<TrainAlignmentLayerOptions> = {}): TrainAlignmentLayerOptions =>
    smallAlOptions(sam, items.slice(0, 2), o);

  /** The frozen decoder's answer to a fixed prompt on a fixed embedding (no delta). */
  function frozenProbe(): Float32Array {
    return tf.tidy(() => {
      const g = 16;
      const emb = tf.randomNormal([1, 64, g, g], 0, 1, 'float32', 11) as tf.Tensor4D;
      const { sparse, dense } = sam.promptEncoder.encode({ boxes: tf.tensor2d([20, 30, 150, 170], [1, 4]) });
      return sam.maskDecoder.forward(emb, sam.densePe, sparse, dense, false).masks.dataSync() as Float32Array;
    });
  }

  it('trains only the adapter: the delta and the AL change, the frozen SAM weights stay byte-identical', async () => {
    const weightsBefore = digest(samMiniWeights().sd);
    const probeBefore = frozenProbe();
    const before = tf.memory().numTensors;
    // checkLeaks (default on) also fails the run if a step leaves tensors behind.
    const r = await trainAlignmentLayer(base({ decoderLora: { rank: 2 } }));
    try {
      const lora = r.decoderLora!;
      expect(lora.rank).toBe(2);
      expect(lora.layers).toHaveLength(40);
      const bs = [...lora.stateDict()].filter(([k]) => k.endsWith('.B'));
      expect(bs.some(([, v]) => toFloat32(v).some((x) => x !== 0))).toBe(true);
      expect(digest(samMiniWeights().sd)).toBe(weightsBefore);
      expect(frozenProbe()).toEqual(probeBefore);
    } finally {
      r.align.dispose();
      r.decoderLora?.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lowers the loss over a few steps on a toy task', async () => {
    const one: EmbeddedItem = { ...items[0], masks: [items[0].masks[0]] };
    const steps: number[] = [];
    const r = await trainAlignmentLayer(
      base({
        items: [one],
        epochs: 6,
        batchImages: 1,
        regionsPerImage: 1,
        lr: 1e-2,
        jitter: { p: 0 },
        prompts: { boxProbability: 1, boxJitter: { fraction: 0 } },
        lossWeights: { iou: 0 },
        decoderLora: { rank: 4 },
        onProgress: (p) => p.kind === 'step' && steps.push(p.loss),
      }),
    );
    r.align.dispose();
    r.decoderLora?.dispose();
    expect(steps).toHaveLength(6);
    expect(steps[5]).toBeLessThan(steps[0] - 0.01);
  });

  it('off by default: no delta, and the same AL as a run that names no option', async () => {
    const a = await trainAlignmentLayer(base());
    const b = await trainAlignmentLayer(base({ decoderLora: undefined }));
    try {
      expect(a.decoderLora).toBeUndefined();
      expect(digest(a.align.stateDict())).toBe(digest(b.align.stateDict()));
      expect(a.epochLosses).toEqual(b.epochLosses);
    } finally {
      a.align.dispose();
      b.align.dispose();
    }
  });

  it('the first step with a fresh delta (B = 0) is the AL-only step; later ones differ', async () => {
    const steps = async (o: Partial<TrainAlignmentLayerOptions>): Promise<number[]> => {
      const out: number[] = [];
      const r = await trainAlignmentLayer(
        base({ ...o, onProgress: (p) => p.kind === 'step' && out.push(p.loss) }),
      );
      r.align.dispose();
      r.decoderLora?.dispose();
      return out;
    };
    const plain = await steps({});
    const withLora = await steps({ decoderLora: { rank: 4 } });
    expect(withLora[0]).toBe(plain[0]);
    expect(withLora[1]).not.toBe(plain[1]);
  });

  it('gives the same delta when the decoder runs in chunks of prompts (maxPromptsPerPass)', async () => {
    const whole = await trainAlignmentLayer(base({ epochs: 1, decoderLora: { rank: 2 } }));
    const chunked = await trainAlignmentLayer(
      base({ epochs: 1, decoderLora: { rank: 2 }, maxPromptsPerPass: 1 }),
    );
    try {
      expect(maxAbsDiff(whole.decoderLora!.stateDict(), chunked.decoderLora!.stateDict())).toBeLessThan(1e-5);
      expect(maxAbsDiff(whole.align.stateDict(), chunked.align.stateDict())).toBeLessThan(1e-5);
    } finally {
      for (const r of [whole, chunked]) {
        r.align.dispose();
        r.decoderLora?.dispose();
      }
    }
  });

  it('resumes from a checkpoint with the delta to the same weights as an uninterrupted run', async () => {
    const lora = {
      rank: 2,
      layers: ['transformer.layers.0.self_attn.q_proj', 'output_hypernetworks_mlps.0.layers.0'],
    };
    const full = await trainAlignmentLayer(base({ epochs: 2, decoderLora: lora }));
    const path = join(dir, 'lora.ck');
    const ac = new AbortController();
    await expect(
      trainAlignmentLayer(
        base({
          epochs: 2,
          decoderLora: lora,
          checkpoint: { path },
          signal: ac.signal,
          onProgress: (p) => p.kind === 'epoch' && ac.abort(),
        }),
      ),
    ).rejects.toBeInstanceOf(TrainingAbortedError);
    expect([...readAlCheckpoint(path)!.decoderLora!.keys()]).toHaveLength(4);
    const resumed = await trainAlignmentLayer(base({ epochs: 2, decoderLora: lora, checkpoint: { path } }));
    try {
      expect(resumed.resumedFrom.epoch).toBe(1);
      expect(digest(resumed.decoderLora!.stateDict())).toBe(digest(full.decoderLora!.stateDict()));
      expect(digest(resumed.align.stateDict())).toBe(digest(full.align.stateDict()));
    } finally {
      for (const r of [full, resumed]) {
        r.align.dispose();
        r.decoderLora?.dispose();
      }
    }
  });

  it('refuses a rank over the limit or an unknown layer before training', async () => {
    await expect(trainAlignmentLayer(base({ decoderLora: { rank: 17 } }))).rejects.toThrow(TrainerInputError);
    await expect(trainAlignmentLayer(base({ decoderLora: { layers: ['mask_tokens'] } }))).rejects.toThrow(
      /decoderLora: .*not a decoder layer/,
    );
  });
});
