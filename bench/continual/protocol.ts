/**
 * The continual benchmark's configuration: sizes of the full run and of `--quick`, the CLI flags, and the hash
 * that ties a state file to one configuration.
 */
import { DEFAULT_MODEL_FILE, DEFAULT_PRESET } from '@casam/casam-core';
import { createHash } from 'node:crypto';
import { numberFlag, parseCliArgs } from '@casam/casam-lab';

export const METHODS = ['frozen', 'casam', 'casamDecoder', 'sequential', 'ewc', 'joint'] as const;
export type MethodName = (typeof METHODS)[number];

export const METHOD_LABELS: Record<MethodName, string> = {
  frozen: 'frozen SAM (zero-shot)',
  casam: 'CA-SAM (per-task AL + VAE routing)',
  casamDecoder: 'CA-SAM + decoder adapter (per-task AL + decoder LoRA + VAE routing; paper order)',
  sequential: 'shared AL, sequential fine-tuning',
  ewc: 'shared AL + EWC',
  joint: 'shared AL, joint (pooled data)',
};

/** Short names for chart legends and narrow table columns. */
export const METHOD_SHORT: Record<MethodName, string> = {
  frozen: 'frozen SAM',
  casam: 'CA-SAM',
  casamDecoder: 'CA-SAM + decoder',
  sequential: 'sequential FT',
  ewc: 'EWC',
  joint: 'joint',
};

export interface BenchArgs {
  model: string;
  preset: string;
  quick: boolean;
  out: string;
  work: string | null;
  seed: number;
  orders: number;
  trainImages: number | null;
  testImages: number | null;
  epochs: number | null;
  vaeEpochs: number | null;
  ewcLambda: number;
  restart: boolean;
  reportOnly: boolean;
  threads: number | null;
  backend: string | null;
}

export interface Plan {
  quick: boolean;
  preset: string;
  seed: number;
  /** Training / test images per domain (test only for the unseen domains). */
  trainImages: number;
  testImages: number;
  /** AL epochs per task (CA-SAM, sequential, EWC) and over the pooled data (joint): the same step budget. */
  epochs: number;
  batchImages: number;
  regionsPerImage: number;
  /**
   * What one region is, for prompts in training and for evaluation (splitRegions): each connected component
   * of a class mask, so a box holds one gland or tooth rather than all of an image's. The trainer's and the
   * evaluator's default; recorded here so that state from runs before it do not mix with runs after.
   */
  regions: 'components';
  /** Generator settings of the synthetic domains. */
  data: { size: number; seed: number };
  orders: string[][];
  unseen: string[];
  ewc: { lambda: number; gamma: number };
  vae: { epochs: number; batchSize: number; lr: number };
  tau: { folds: number; percentile: number };
}

/**
 * The full run's sizes: the spec's AL schedule (24 epochs, batch 6 images × 5 regions) on 30 training images
 * per task.
 *
 * VAE epochs: the spec's 10 epochs are the authors' for ~1,000 features per task (≈ 1,700 Adam steps of batch
 * 6). On 30 features they are 50 steps and the VAE is far from trained: in a pilot on these domains (casam-tiny
 * at pretraining step 2450, 30 train / 16 test images per domain) 10 epochs gave routing accuracy 95.8% and
 * let only 46% of unseen-domain images fall back, 50 epochs 99.3% / 73%, 100 epochs (500 steps) 98.6% / 94%
 * (100% argmin accuracy). So the benchmark trains the VAEs, and the τ-calibration VAEs, for 100 epochs.
 */
/*
 * Test images: 48 per domain. The first full run used 16, and per-domain comparisons were then decided by
 * test-set noise: kidney-dn and msd-prostate ended 0.008 and 0.005 IoU below box-fill, while on 48 further
 * test-split images the same CA-SAM layers were 0.002 below and 0.008 above (single images in these domains
 * range over ±0.15 IoU, so 16 images give a standard error of about ±0.02 per domain; 48 about ±0.01).
 * Training is unchanged, so the layers are the same as with 16 (same data and seeds).
 * Over the 48 (the 16 and 32 more) both stay just below box-fill: −0.006 and −0.001.
 *
 * Training seeds: on those 48 test images, one task's layer trained with other seeds (same 30 images, 24 epochs,
 * lr 1e-3) gave msd-prostate 0.697 / 0.722 / 0.711 (seeds 1, 2, 3) against 0.643 with the benchmark's seed for
 * the paper order, and kidney-dn 0.792 / 0.791 / 0.762 against 0.780 (box-fill 0.644 and 0.783). One layer is
 * one draw from a spread of up to ±0.04 per domain, so each order trains its own set of CA-SAM layers (own
 * seeds, as the shared-AL baselines already had) and the per-domain comparison with box-fill uses the mean of
 * the orders' sets.
 */
export const FULL = { trainImages: 30, testImages: 48, epochs: 24, vaeEpochs: 100 } as const;
/** `--quick`: same protocol, fewer images and epochs; under 10 minutes on 2 cores. */
export const QUICK = { trainImages: 6, testImages: 4, epochs: 3, vaeEpochs: 30 } as const;

/**
 * EWC strength, from a seeded pilot (2026-11-26, casam-tiny at pretraining step 3050, wasm, 2 busy cores): the
 * paper order's first 4 tasks, 12 training images and 8 epochs per task, final Avg-IoU and forgetting on the
 * generator's *val* split (never the benchmark's test images):
 *   λ      0      1e3    1e4    1e5    3e5    1e6    1e7    1e8    1e9
 *   Avg    0.247  0.256  0.249  0.257  0.253  0.268  0.276  0.282  0.278
 *   forg.  0.081  0.071  0.083  0.032  0.017  -0.001 0.002  0.001  0.004
 * (the accumulated diagonal Fisher averages ~1e-5 per weight). The best Avg-IoU is at 1e8, where the layer
 * barely moves after the first task: on these domains keeping the first task's layer beats adapting to each
 * new one. That is the strongest EWC we found, so it is the baseline.
 */
export const DEFAULT_EWC_LAMBDA = 1e8;

/**
 * The decoder-adapter arm (issue 19 part 2): CA-SAM's tasks trained again with a LoRA delta on the mask decoder
 * (the trainer's defaults: every layer the adapter schema allows, alpha = rank). For the paper order only: each
 * order's own set would double the benchmark's training. Not part of the plan hash, so that states of runs
 * before the arm keep their finished units; a task record of another rank or alpha is trained again.
 */
export const DECODER_ADAPTER = { rank: 4, alpha: 4 } as const;

export const USAGE = `usage: npm run bench:continual -- [options]
  --model PATH        base model weights (default ${DEFAULT_MODEL_FILE}, the embedded default)
  --preset NAME       model preset (default ${DEFAULT_PRESET})
  --quick             small run (${QUICK.trainImages} train / ${QUICK.testImages} test images per domain, ${QUICK.epochs} epochs): < 10 min on 2 cores; CI runs it
  --out DIR           results folder (default bench/results)
  --work DIR          embedding cache, adapters and stage weights (default: the cache and --quick's weights in
                      <out>/.continual-work/, the full run's in <out>/continual-work/, its committed resume point)
  --seed N            data, order and training seed (default 1)
  --orders N          task orders: the paper's plus N−1 seeded ones (default 3)
  --train-images N    training images per domain (default ${FULL.trainImages}; quick ${QUICK.trainImages})
  --test-images N     test images per domain (default ${FULL.testImages}; quick ${QUICK.testImages})
  --epochs N          AL epochs per task (default ${FULL.epochs}; quick ${QUICK.epochs})
  --vae-epochs N      VAE epochs per task and τ fold (default ${FULL.vaeEpochs}; quick ${QUICK.vaeEpochs})
  --ewc-lambda X      EWC penalty strength (default ${DEFAULT_EWC_LAMBDA})
  --threads N         wasm threads (default: all cores up to 8)
  --backend NAME      TF.js backend (default wasm)
  --restart           discard the state of an earlier run with this configuration
  --report-only       write the report from the state as it is (a partial one mid-run); train nothing
  --help, -h          print this text`;

/**
 * Parses the command line strictly (parseCliArgs: an unknown flag or a missing value prints the usage and exits
 * 2, `--help` prints it and exits 0); a bad value throws CliUsageError, which failUsage reports the same way.
 */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const v = parseCliArgs(
    USAGE,
    {
      model: { type: 'string', default: DEFAULT_MODEL_FILE },
      preset: { type: 'string', default: DEFAULT_PRESET },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results' },
      work: { type: 'string' },
      seed: { type: 'string', default: '1' },
      orders: { type: 'string', default: '3' },
      'train-images': { type: 'string' },
      'test-images': { type: 'string' },
      epochs: { type: 'string' },
      'vae-epochs': { type: 'string' },
      'ewc-lambda': { type: 'string', default: String(DEFAULT_EWC_LAMBDA) },
      threads: { type: 'string' },
      backend: { type: 'string' },
      restart: { type: 'boolean', default: false },
      'report-only': { type: 'boolean', default: false },
    },
    { argv: [...argv] },
  );
  const int = (name: keyof typeof v, min: number): number | null =>
    numberFlag(name, v[name] as string | undefined, { integer: true, min }) ?? null;
  return {
    model: v.model,
    preset: v.preset,
    quick: v.quick,
    out: v.out,
    work: v.work ?? null,
    seed: int('seed', 0) as number,
    orders: int('orders', 1) as number,
    // τ calibration holds out one fold of five: at least 5 training images.
    trainImages: int('train-images', 5),
    testImages: int('test-images', 1),
    epochs: int('epochs', 1),
    vaeEpochs: int('vae-epochs', 1),
    ewcLambda: numberFlag('ewc-lambda', v['ewc-lambda'], { min: 0 }) as number,
    restart: v.restart,
    reportOnly: v['report-only'],
    threads: int('threads', 1),
    backend: v.backend ?? null,
  };
}

/** Run name: file prefix of the results and the state. */
export function runName(plan: Plan): string {
  return plan.quick ? 'continual-quick' : 'continual';
}

export function planHash(plan: Plan, fingerprint: string): string {
  return createHash('sha256').update(JSON.stringify({ plan, fingerprint })).digest('hex');
}
