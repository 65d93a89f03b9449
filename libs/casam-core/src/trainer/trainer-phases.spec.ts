/**
 * The trainers are split into named phase functions (issue 17). This spec pins what a seeded run computes, bit for
 * bit, with fingerprints recorded from the code before the split: the adapter file of a whole trainTask run (AL and
 * VAE weights, τ, validation metrics) and the weights and losses of trainAlignmentLayer along each path of its step
 * (one pass, prompt chunks, a regularizer, a decoder delta, the input-frame loss). Any change of an RNG draw, of the
 * order of operations or of a number changes a fingerprint. Recorded on the wasm backend. The trainTask rows
 * were re-recorded once on purpose when the TaskVAE moved to typed-array training (task-vae-host.ts, which
 * task-vae-host.spec.ts checks against the TF.js steps): their AL losses and validation IoU stayed bit for bit,
 * the VAE's losses and so the adapter file changed by rounding.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import type { Sam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import type { StateDict } from '../tensor/host-tensor';
import { stateDictFingerprint } from '../weights/fingerprint';
import { AlRegularizer, TrainAlignmentLayerOptions, trainAlignmentLayer } from './al-trainer';
import { TaskAlOptions, trainTask } from './task-trainer';
import { samMiniWeights, syntheticItems } from './trainer-fixtures.testing';
import { EmbeddedSamMini, embeddedSamMini, smallAlOptions } from './embedded-sam-mini.testing';
import type { EmbeddedItem } from './training-item';

/** Losses as exact float64 bit patterns, so equal strings mean equal numbers. */
function lossDigest(losses: readonly number[]): string {
  const b = new Float64Array(losses);
  return createHash('sha256').update(new Uint8Array(b.buffer)).digest('hex').slice(0, 16);
}

/** 16 hex digits of stateDictFingerprint. */
const short = (sd: StateDict): string => stateDictFingerprint(sd).replace('sha256:', '').slice(0, 16);

/** A penalty on the AL's weights (a small L2), to drive the regularizer path of a step. */
const l2: AlRegularizer = {
  id: 'l2-test',
  penalty: (vars) =>
    tf.tidy(() => tf.mul(tf.addN([...vars.values()].map((v) => tf.sum(tf.square(v)))), 1e-4) as tf.Scalar),
};

describe('trainer phases reproduce the same weights', () => {
  let fx: EmbeddedSamMini;
  let dir: string;
  let sam: Sam;
  let items: EmbeddedItem[];

  beforeAll(async () => {
    fx = await embeddedSamMini(4, 3, 'casam-phases-');
    ({ dir, sam, items } = fx);
  });
  afterAll(() => fx.dispose());

  const base = (o: Partial<TrainAlignmentLayerOptions> = {}): TrainAlignmentLayerOptions =>
    smallAlOptions(sam, items.slice(0, 3), o);

  async function alFingerprint(o: Partial<TrainAlignmentLayerOptions>): Promise<string> {
    const r = await trainAlignmentLayer(base(o));
    try {
      const lora = r.decoderLora ? ` lora ${short(r.decoderLora.stateDict())}` : '';
      return `al ${short(r.align.stateDict())}${lora} losses ${lossDigest(r.epochLosses)}`;
    } finally {
      r.align.dispose();
      r.decoderLora?.dispose();
    }
  }

  it.each([
    ['one pass', {}, 'al 8af342d7028c2011 losses 1e014eceed58a580'],
    [
      'prompt chunks + regularizer',
      { maxPromptsPerPass: 3, regularizer: l2 },
      'al 8d41a14c7a96256a losses 68e99a75e8a2f16d',
    ],
    ['one pass + regularizer', { regularizer: l2 }, 'al 8a5f2054341245e6 losses d456e68a5d7b9602'],
    [
      'decoder delta',
      { decoderLora: { rank: 2 } },
      'al a354b93b3badb47f lora db6a74fde5a6010d losses 51119bf782e090b0',
    ],
    [
      'decoder delta in prompt chunks',
      { decoderLora: { rank: 2 }, maxPromptsPerPass: 3 },
      'al 940745703bc17097 lora 9b13909962adac9c losses 5f0394126e564963',
    ],
    [
      'input-frame loss, box prompts',
      { lossResolution: 'input', prompts: { boxProbability: 1 } },
      'al 8c6d725a6f627de4 losses 23b718d4c5c35fff',
    ],
  ] as [string, Partial<TrainAlignmentLayerOptions>, string][])(
    'trainAlignmentLayer, %s',
    async (_name, o, want) => {
      const got = await alFingerprint(o);
      expect(got).toBe(want);
    },
    60_000,
  );

  it.each([
    [
      'AL only',
      {},
      'adapter 49b2f7eb2fcadb0d al 0f4fede28cdcdeb8 vae 7cecd5c03b93fdf1 iou 5.04539134085097e-10',
    ],
    [
      'AL + decoder delta',
      { decoderLora: { rank: 2 } },
      'adapter c0bf2827a5b075d2 al e9e9a8d47559e94f vae 7cecd5c03b93fdf1 iou 5.052421262825502e-10',
    ],
  ] as [string, Partial<TaskAlOptions>, string][])(
    'trainTask, %s: the same adapter file and losses',
    async (name, al, want) => {
      const r = await trainTask({
        taskId: 'phases',
        train: syntheticItems(6, { seed: 21, prefix: 'tr' }),
        val: syntheticItems(3, { seed: 22, prefix: 'va', width: 80, height: 64 }),
        engine: createTfjsSamEngine(sam),
        sam,
        baseModel: { preset: 'sam-mini', fingerprint: samMiniWeights().fingerprint },
        cacheDir: join(dir, 'cache'),
        workDir: join(dir, `task-${name}`),
        seed: 1,
        al: { epochs: 2, batchImages: 3, regionsPerImage: 2, lossResolution: 'low', ...al },
        vae: { epochs: 2 },
        createdAt: new Date('2026-11-26T12:00:00.000Z'),
      });
      const file = createHash('sha256').update(readFileSync(r.adapterPath)).digest('hex').slice(0, 16);
      const got = `adapter ${file} al ${lossDigest(r.al.epochLosses)} vae ${lossDigest(r.vaeEpochLosses)} iou ${r.evaluation.align.iou}`;
      expect(got).toBe(want);
    },
    120_000,
  );
});
