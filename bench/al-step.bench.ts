/**
 * `npx tsx bench/al-step.bench.ts` — what training an Alignment Layer from the embedding cache costs on the
 * wasm backend, next to what the encoder costs per image, and where the step's time goes (AL forward/backward,
 * decoder forward/backward, loss head, data, optimizer). Prints tables and writes bench/results/al-step.json.
 *
 *   cells   casam-tiny (random weights) and sam-mini (fixture): C = 64 at 16×16, batch 6 images × 5 regions, loss
 *           at the input frame (256²) and at low resolution (64²); vit_b-sized (random weights): C = 256 at 64×64,
 *           batch 1 × 5, loss at 1024², the decoder run 2 prompts at a time (its backward holds ~1 GB per prompt
 *           in TF.js and the wasm heap ends at 4 GB; 5 at once thrashes for minutes).
 *
 * `--lr-sweep` instead runs the seeded learning-rate comparison behind DEFAULT_AL_LR and DEFAULT_LOSS_RESOLUTION
 * for the small presets and merges it into the same JSON. The frozen base is the sam-mini fixture. Its weights
 * are a seeded random init (a parity fixture): its decoder barely reacts to the embedding
 * (‖∂loss/∂embedding‖ ≈ 3e-4), so nothing an AL does shows on it. The sweep therefore also runs on "sam-mini +
 * warmed decoder": the fixture's encoder, its decoder trained for a few hundred steps on generic synthetic
 * shapes (discs and rings) — a stand-in for a pretrained base until the project's casam-tiny weights exist.
 * ALs are then trained on two of the data generator's medical-like domains, which that base has never seen, for
 * lr ∈ {1e-4, 3e-4, 1e-3} (loss at the input frame; 3e-4 and 1e-3 also at low resolution), seeds 1 and 2, with
 * validation IoU (box prompts) after every epoch. About 35 minutes on 2 busy cores.
 *
 * Flags: --steps N (timed steps per cell, default 5), --quick (2 steps, no vit_b), --no-vitb, --lr-sweep,
 * --sweep-epochs N (default 10), --warmup-steps N (decoder warm-up, default 240), --help.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AlTimings,
  EmbeddedItem,
  IDENTITY_ALIGNMENT,
  LossResolution,
  Sam,
  SamConfig,
  SamEngine,
  StateDict,
  TrainingItem,
  buildSam,
  downsampleMask,
  createAdam,
  createRng,
  createTfjsSamEngine,
  ensureEmbeddings,
  evaluateBoxPrompts,
  float32Tensor,
  getPreset,
  gridSize,
  initBackend,
  loadEmbedding,
  maskToInputFrame,
  normalArray,
  prepareImage,
  randomSamStateDict,
  resolvePromptSamplerOptions,
  samplePromptBatch,
  segmentationLoss,
  stateDictFingerprint,
  tf,
  toModelFrame,
  trainAlignmentLayer,
} from '@casam/casam-core';
import {
  createTrainableSam,
  failUsage,
  generateDomain,
  LoadCheckpoints,
  machineInfo,
  numberFlag,
  parseCliArgs,
} from '@casam/casam-lab';
import { samMiniWeights, syntheticItems } from '@casam/casam-core/testing';
import { toTrainingItem } from './domain-items';

const root = resolve(__dirname, '..');
const resultsPath = join(root, 'bench/results/al-step.json');
const USAGE = `usage: npx tsx bench/al-step.bench.ts [options]
  --steps N          timed steps per cell (default 5; 2 with --quick)
  --quick            2 timed steps, no vit_b cell
  --no-vitb          skip the vit_b-sized cell
  --lr-sweep         run the seeded learning-rate sweep instead of the step timing
  --sweep-epochs N   epochs per sweep run (default 10)
  --warmup-steps N   decoder warm-up steps of the sweep's warmed base (default 240)
  --help, -h         print this text`;

const opts = ((): {
  quick: boolean;
  noVitb: boolean;
  lrSweep: boolean;
  steps: number;
  sweepEpochs: number;
  warmupSteps: number;
} => {
  const v = parseCliArgs(USAGE, {
    steps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-vitb': { type: 'boolean', default: false },
    'lr-sweep': { type: 'boolean', default: false },
    'sweep-epochs': { type: 'string' },
    'warmup-steps': { type: 'string' },
  });
  try {
    const int = (name: 'steps' | 'sweep-epochs' | 'warmup-steps', dflt: number): number =>
      numberFlag(name, v[name], { integer: true, min: 1 }) ?? dflt;
    return {
      quick: v.quick,
      noVitb: v['no-vitb'],
      lrSweep: v['lr-sweep'],
      steps: int('steps', v.quick ? 2 : 5),
      sweepEpochs: int('sweep-epochs', 10),
      warmupSteps: int('warmup-steps', 240),
    };
  } catch (e) {
    return failUsage(e, USAGE);
  }
})();
const quick = opts.quick;
const STEPS = opts.steps;
const log = (s: string): void => void process.stderr.write(s + '\n');

interface Stats {
  median: number;
  min: number;
  runs: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], runs: s.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Step timing

interface StepRow {
  model: string;
  weights: string;
  channels: number;
  grid: number;
  inputPx: number;
  batch: { images: number; regions: number };
  lossResolution: LossResolution;
  /** Decoder passes per step hold at most this many prompts (null: all at once). */
  maxPromptsPerPass: number | null;
  stepMs: Stats;
  /** Mean milliseconds per step and phase, and the shares, over the timed steps. */
  phaseMsPerStep: AlTimings['phasesMs'];
  share: AlTimings['share'];
  encoderMsPerImage: Stats;
  /** One training step over one encoder pass of one image. */
  stepOverEncoder: number;
  /** Seconds per epoch of the spec's setup (24 epochs) per 100 training images, at this step time. */
  secondsPerEpochPer100Images: number;
}

/** `n` training items cycling over a pool of cached images (fresh ids, shared cache entries). */
function cycle(pool: readonly EmbeddedItem[], n: number): EmbeddedItem[] {
  return Array.from({ length: n }, (_, i) => ({ ...pool[i % pool.length], id: `x${i}` }));
}

async function timeSteps(
  sam: Sam,
  pool: readonly EmbeddedItem[],
  batchImages: number,
  regionsPerImage: number,
  lossResolution: LossResolution,
  maxPromptsPerPass: number | undefined,
  steps: number,
): Promise<{ stepMs: Stats; timings: AlTimings }> {
  const common = {
    sam,
    epochs: 1,
    batchImages,
    regionsPerImage,
    lossResolution,
    maxPromptsPerPass,
    lr: 1e-4,
    seed: 1,
  };
  const warm = await trainAlignmentLayer({ ...common, items: cycle(pool, batchImages) }); // kernels, allocations
  warm.align.dispose();
  const marks: number[] = [];
  const r = await trainAlignmentLayer({
    ...common,
    items: cycle(pool, batchImages * steps),
    onProgress: (p) => {
      if (p.kind === 'step') marks.push(p.elapsedS * 1000);
    },
  });
  r.align.dispose();
  return { stepMs: stats(marks.map((m, i) => m - (i ? marks[i - 1] : 0))), timings: r.timings };
}

async function timeEncoder(engine: SamEngine, runs: number): Promise<Stats> {
  const s = engine.config.imgSize;
  const img = syntheticItems(1, { width: s, height: s, seed: 9 })[0].image;
  const pre = prepareImage(img.data, s, s, engine.config).preprocessed;
  if (runs > 1) await engine.embed(pre);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await engine.embed(pre);
    out.push(performance.now() - t0);
  }
  return stats(out);
}

/** A stand-in encoder for the cache: standard-normal embeddings (AL/decoder timings do not depend on values). */
function randomEmbeddingEngine(cfg: SamConfig): SamEngine {
  const g = gridSize(cfg);
  let k = 0;
  return {
    kind: 'tfjs',
    config: cfg,
    embed: async () =>
      float32Tensor([1, cfg.outChans, g, g], normalArray(cfg.outChans * g * g, createRng(++k))),
    decode: () => Promise.reject(new Error('not used')),
    dispose: () => undefined,
  };
}

async function stepCells(cacheDir: string): Promise<StepRow[]> {
  const rows: StepRow[] = [];
  const cells: {
    cfg: SamConfig;
    sd: StateDict;
    weights: string;
    batch: [number, number];
    res: LossResolution[];
    maxPromptsPerPass?: number;
  }[] = [
    {
      cfg: getPreset('casam-tiny'),
      sd: randomSamStateDict(getPreset('casam-tiny'), 1),
      weights: 'random (seeded)',
      batch: [6, 5],
      res: ['input', 'low'],
    },
    {
      cfg: getPreset('sam-mini'),
      sd: samMiniWeights().sd,
      weights: 'fixture',
      batch: [6, 5],
      res: ['input', 'low'],
    },
  ];
  if (!quick && !opts.noVitb)
    cells.push({
      cfg: getPreset('vit_b'),
      sd: randomSamStateDict(getPreset('vit_b'), 1),
      weights: 'random (seeded)',
      batch: [1, 5],
      res: ['input'],
      // Its decoder backward holds ~1 GB per prompt; the wasm heap ends at 4 GB (see maxPromptsPerPass).
      maxPromptsPerPass: 2,
    });
  for (const cell of cells) {
    const { cfg } = cell;
    const sam = buildSam(cfg, cell.sd);
    const engine = createTfjsSamEngine(sam);
    const big = cfg.imgSize > 256;
    log(`  ${cfg.name}: encoder…`);
    const encoderMsPerImage = await timeEncoder(engine, big ? 1 : 5);
    // vit_b: the images only carry masks (the cache is filled by the stand-in encoder above).
    const images = syntheticItems(6, { width: cfg.imgSize, height: cfg.imgSize, seed: 11, prefix: cfg.name });
    const fingerprint = big ? 'sha256:' + '0'.repeat(64) : stateDictFingerprint(cell.sd);
    const handles = await ensureEmbeddings(images, big ? randomEmbeddingEngine(cfg) : engine, {
      cacheDir,
      fingerprint,
    });
    const pool = images.map((it, i) => ({ id: it.id, handle: handles[i], masks: it.masks }));
    for (const res of cell.res) {
      const [bi, rp] = cell.batch;
      log(
        `  ${cfg.name}: AL step, batch ${bi}×${rp}, loss at ${res === 'input' ? 'input' : 'low'} resolution…`,
      );
      const steps = big ? Math.min(STEPS, 3) : STEPS;
      const { stepMs, timings } = await timeSteps(sam, pool, bi, rp, res, cell.maxPromptsPerPass, steps);
      const per = { ...timings.phasesMs };
      for (const k of Object.keys(per) as (keyof typeof per)[]) per[k] /= timings.steps;
      rows.push({
        model: cfg.name,
        weights: cell.weights,
        channels: cfg.outChans,
        grid: gridSize(cfg),
        inputPx: cfg.imgSize,
        batch: { images: bi, regions: rp },
        lossResolution: res,
        maxPromptsPerPass: cell.maxPromptsPerPass ?? null,
        stepMs,
        phaseMsPerStep: per,
        share: timings.share,
        encoderMsPerImage,
        stepOverEncoder: stepMs.median / encoderMsPerImage.median,
        secondsPerEpochPer100Images: (stepMs.median / 1000) * Math.ceil(100 / bi),
      });
    }
    engine.dispose();
  }
  return rows;
}

function stepTable(rows: StepRow[]): string {
  const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
  return [
    '| model | C, grid | batch | loss frame | step ms (median) | encoder ms / image | step / encoder | AL fwd+bwd | decoder fwd+bwd | loss head | data + Adam | s / epoch / 100 images |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} (${r.weights}) | ${r.channels}, ${r.grid}×${r.grid} | ${r.batch.images}×${r.batch.regions}${r.maxPromptsPerPass ? ` (≤ ${r.maxPromptsPerPass} per pass)` : ''} | ${r.lossResolution === 'input' ? `${r.inputPx}²` : `${4 * r.grid}²`} | ${r.stepMs.median.toFixed(0)} | ${r.encoderMsPerImage.median.toFixed(0)} | ${r.stepOverEncoder.toFixed(1)} | ${pct(r.share.al)} | ${pct(r.share.decoder)} | ${pct(r.share.loss)} | ${pct(r.share.data + r.share.optimizer)} | ${r.secondsPerEpochPer100Images.toFixed(1)} |`,
    ),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Learning-rate sweep

const SWEEP_LRS = [1e-4, 3e-4, 1e-3];
const SWEEP_DOMAINS = ['acdc-cardiac-mr', 'polyp-endoscopy'];
const SWEEP_SEEDS = [1, 2];

function domainItems(name: string, count: number, start: number): TrainingItem[] {
  return generateDomain(name, { count, start, size: 256, seed: 7 }).map(toTrainingItem);
}

/**
 * Trains sam-mini's mask decoder (only) on generic synthetic shapes from its frozen encoder's embeddings: a
 * cheap stand-in for a pretrained base. Returns the whole state dict (encoder and prompt encoder unchanged).
 */
async function warmUpDecoder(items: EmbeddedItem[], steps: number): Promise<StateDict> {
  const cfg = getPreset('sam-mini');
  const ts = createTrainableSam(cfg, samMiniWeights().sd);
  const vars = new Map([...ts.variables].filter(([k]) => k.startsWith('mask_decoder.')));
  const opt = createAdam(vars, { lr: 1e-3 });
  const prompts = resolvePromptSamplerOptions();
  const rng = createRng(2024);
  const g = gridSize(cfg);
  const t0 = performance.now();
  try {
    for (let s = 0; s < steps; s++) {
      const batch = Array.from({ length: 4 }, () => items[Math.floor(rng() * items.length)]);
      const regions = batch.flatMap((it) => {
        const [h, w] = it.handle.originalSize;
        return it.masks.map((m) => ({ item: it, ref: { mask: m.mask, width: w, height: h } }));
      });
      const b = regions.length;
      const pb = samplePromptBatch(
        regions.map((r) => r.ref),
        rng,
        prompts,
      );
      const fr = toModelFrame(
        pb,
        regions.map((r) => r.item.handle.originalSize),
        cfg.imgSize,
      );
      const per = cfg.outChans * g * g;
      const embData = new Float32Array(b * per);
      regions.forEach((r, i) =>
        embData.set(loadEmbedding(r.item.handle).embeddings.data as Float32Array, i * per),
      );
      const tgtData = new Float32Array(b * 64 * 64);
      regions.forEach((r, i) =>
        tgtData.set(downsampleMask(maskToInputFrame(r.ref, cfg.imgSize), cfg.imgSize, 4), i * 4096),
      );
      const emb = tf.tensor4d(embData, [b, cfg.outChans, g, g]);
      const tgt = tf.tensor4d(tgtData, [b, 1, 64, 64]);
      const loss = opt.minimize(() =>
        tf.tidy(() => {
          const input = fr.boxes
            ? { boxes: tf.tensor2d(fr.boxes, [b, 4]) }
            : {
                points: {
                  coords: tf.tensor3d(fr.coords!, [b, fr.pointsPerPrompt, 2]),
                  labels: tf.tensor2d(fr.labels!, [b, fr.pointsPerPrompt]),
                },
              };
          const { sparse, dense } = ts.sam.promptEncoder.encode(input);
          const out = ts.sam.maskDecoder.forward(emb, ts.sam.densePe, sparse, dense, false);
          return segmentationLoss(out.masks, tgt, out.iou).total;
        }),
      );
      tf.dispose([emb, tgt]);
      if (s % 40 === 0 || s === steps - 1)
        log(
          `    warm-up step ${s + 1}/${steps}: loss ${loss.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
    }
    return ts.stateDict();
  } finally {
    opt.dispose();
    ts.dispose();
  }
}

interface SweepRun {
  base: string;
  domain: string;
  lr: number;
  lossResolution: LossResolution;
  seed: number;
  /** Validation IoU (box prompts) after each epoch. */
  iouByEpoch: number[];
  epochLosses: number[];
  secondsPerEpoch: number;
}

interface SweepBase {
  name: string;
  description: string;
  fingerprint: string;
  /** Per domain: frozen base and box-fill IoU on the validation split. */
  reference: Record<string, { frozenIou: number; boxFillIou: number }>;
  /** Held-out IoU on the generic shapes (warmed base only). */
  genericIou?: number;
}

async function lrSweep(cacheDir: string): Promise<unknown> {
  const epochs = opts.sweepEpochs;
  const warmSteps = opts.warmupSteps;
  const cfg = getPreset('sam-mini');
  const raw = samMiniWeights();
  const rawSam = buildSam(cfg, raw.sd);
  const rawEngine = createTfjsSamEngine(rawSam);
  const embed = async (items: TrainingItem[], engine: SamEngine, fp: string): Promise<EmbeddedItem[]> => {
    const h = await ensureEmbeddings(items, engine, { cacheDir, fingerprint: fp });
    return items.map((it, i) => ({ id: it.id, handle: h[i], masks: it.masks }));
  };

  log(`  warming up sam-mini's decoder on generic shapes (${warmSteps} steps)…`);
  const generic = await embed(
    syntheticItems(72, { width: 256, height: 256, seed: 100, prefix: 'generic' }),
    rawEngine,
    raw.fingerprint,
  );
  const warmSd = await warmUpDecoder(generic.slice(0, 60), warmSteps);
  const warmFp = stateDictFingerprint(warmSd);
  const warmSam = buildSam(cfg, warmSd);
  const warmEngine = createTfjsSamEngine(warmSam);
  const genericHeldOut = await embed(
    syntheticItems(72, { width: 256, height: 256, seed: 100, prefix: 'generic' }).slice(60),
    warmEngine,
    warmFp,
  );
  const genericIou = (
    await evaluateBoxPrompts({
      sam: warmSam,
      items: genericHeldOut,
      transforms: { frozen: IDENTITY_ALIGNMENT },
    })
  ).methods['frozen'].aggregate.iou;
  log(`    warmed decoder: held-out generic box IoU ${genericIou.toFixed(3)}`);

  const bases: { base: SweepBase; sam: Sam; engine: SamEngine; domains: string[] }[] = [
    {
      base: {
        name: 'sam-mini',
        description: 'sam-mini fixture weights as they are (seeded random init)',
        fingerprint: raw.fingerprint,
        reference: {},
      },
      sam: rawSam,
      engine: rawEngine,
      domains: SWEEP_DOMAINS.slice(0, 1),
    },
    {
      base: {
        name: 'sam-mini+warm-decoder',
        description: `sam-mini fixture encoder and prompt encoder; mask decoder trained ${warmSteps} steps (batch 4 images × 2 shapes, Adam 1e-3, seed 2024) on 60 generic disc/ring images`,
        fingerprint: warmFp,
        reference: {},
        genericIou,
      },
      sam: warmSam,
      engine: warmEngine,
      domains: SWEEP_DOMAINS,
    },
  ];
  const runs: SweepRun[] = [];
  for (const { base, sam, engine, domains } of bases) {
    const warmed = base.name !== 'sam-mini';
    for (const domain of domains) {
      const train = await embed(domainItems(domain, 24, 0), engine, base.fingerprint);
      const val = await embed(domainItems(domain, 12, 1000), engine, base.fingerprint);
      const ref = await evaluateBoxPrompts({ sam, items: val, transforms: { frozen: IDENTITY_ALIGNMENT } });
      base.reference[domain] = {
        frozenIou: ref.methods['frozen'].aggregate.iou,
        boxFillIou: ref.methods['boxFill'].aggregate.iou,
      };
      log(
        `  ${base.name} / ${domain}: frozen IoU ${base.reference[domain].frozenIou.toFixed(3)}, box-fill ${base.reference[domain].boxFillIou.toFixed(3)}`,
      );
      // The untrained base only needs one seed to show that nothing trains on it.
      const settings: [number, LossResolution, number][] = [];
      for (const seed of warmed ? SWEEP_SEEDS : SWEEP_SEEDS.slice(0, 1)) {
        for (const lr of SWEEP_LRS) settings.push([lr, 'input', seed]);
        if (warmed) for (const lr of SWEEP_LRS.slice(1)) settings.push([lr, 'low', seed]);
      }
      for (const [lr, lossResolution, seed] of settings) {
        const ck = join(cacheDir, `sweep-${base.name}-${domain}-${lr}-${lossResolution}-${seed}.ck`);
        rmSync(ck, { force: true });
        const iouByEpoch: number[] = [];
        let epochLosses: number[] = [];
        let seconds = 0;
        // One epoch at a time: each call resumes the checkpoint and adds an epoch (identical to one long run).
        for (let e = 1; e <= epochs; e++) {
          const r = await trainAlignmentLayer({
            sam,
            items: train,
            epochs: e,
            lr,
            seed,
            lossResolution,
            checkpoint: { path: ck },
          });
          seconds += r.timings.secondsPerEpoch.reduce((a, b) => a + b, 0);
          epochLosses = r.epochLosses;
          const ev = await evaluateBoxPrompts({
            sam,
            items: val,
            transforms: { align: r.align },
            boundary: false,
          });
          r.align.dispose();
          iouByEpoch.push(ev.methods['align'].aggregate.iou);
        }
        runs.push({
          base: base.name,
          domain,
          lr,
          lossResolution,
          seed,
          iouByEpoch,
          epochLosses,
          secondsPerEpoch: seconds / epochs,
        });
        log(
          `    lr ${lr} (${lossResolution}, seed ${seed}): IoU by epoch ${iouByEpoch.map((x) => x.toFixed(3)).join(' ')}`,
        );
      }
    }
  }
  rawEngine.dispose();
  warmEngine.dispose();

  // Score: validation IoU averaged over the last three epochs (one epoch alone is noisy at 4 steps per epoch),
  // then over domains and seeds of the warmed base.
  const score = (lr: number, res: LossResolution): number => {
    const rs = runs.filter((r) => r.base !== 'sam-mini' && r.lr === lr && r.lossResolution === res);
    const tail = (r: SweepRun): number => r.iouByEpoch.slice(-3).reduce((a, b) => a + b, 0) / 3;
    return rs.length ? rs.reduce((a, r) => a + tail(r), 0) / rs.length : NaN;
  };
  const scores = Object.fromEntries(
    SWEEP_LRS.map((lr) => [String(lr), { input: score(lr, 'input'), low: score(lr, 'low') }]),
  );
  const winner = SWEEP_LRS.reduce((best, lr) => (score(lr, 'input') > score(best, 'input') ? lr : best));
  return {
    date: new Date().toISOString(),
    epochs,
    seeds: SWEEP_SEEDS,
    trainImages: 24,
    valImages: 12,
    batch: { images: 6, regions: 5 },
    domains: SWEEP_DOMAINS,
    lrs: SWEEP_LRS,
    bases: bases.map((b) => b.base),
    runs,
    score: 'mean validation IoU over the last 3 epochs, averaged over domains and seeds (warmed base)',
    scores,
    winner,
  };
}

function sweepTable(s: { runs: SweepRun[]; bases: SweepBase[] }): string {
  const lines = [
    '| base | domain | lr | loss frame | seed | val IoU by epoch | frozen | box-fill | s / epoch |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of s.runs) {
    const ref = s.bases.find((b) => b.name === r.base)!.reference[r.domain];
    lines.push(
      `| ${r.base} | ${r.domain} | ${r.lr} | ${r.lossResolution} | ${r.seed} | ${r.iouByEpoch.map((x) => x.toFixed(3)).join(' ')} | ${ref.frozenIou.toFixed(3)} | ${ref.boxFillIou.toFixed(3)} | ${r.secondsPerEpoch.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const load = new LoadCheckpoints();
  const backend = await initBackend({ prefer: 'wasm', log });
  const cacheDir = mkdtempSync(join(tmpdir(), 'al-bench-'));
  const previous = existsSync(resultsPath)
    ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>)
    : {};
  const out: Record<string, unknown> = {
    ...previous,
    benchmark: 'al-step',
    // Other work on the machine changes every number here: the load averages at start and end say how much.
    machine: machineInfo({ load, backend: backend.name }),
    backend: backend.summary,
  };
  try {
    if (opts.lrSweep) {
      log('learning-rate sweep…');
      const sweep = (await lrSweep(cacheDir)) as {
        runs: SweepRun[];
        bases: SweepBase[];
        winner: number;
        scores: Record<string, { input: number; low: number }>;
      };
      console.log('\n' + sweepTable(sweep));
      console.log('\n| lr | score, input-frame loss | score, low-res loss |\n|---|---|---|');
      for (const [lr, v] of Object.entries(sweep.scores))
        console.log(`| ${lr} | ${v.input.toFixed(3)} | ${Number.isNaN(v.low) ? '–' : v.low.toFixed(3)} |`);
      console.log(`\nbest on the warmed base (mean IoU of the last 3 epochs): lr ${sweep.winner}`);
      out['lrSweep'] = sweep;
    } else {
      log(`AL training step on wasm: ${STEPS} timed steps per cell…`);
      const rows = await stepCells(cacheDir);
      console.log('\n' + stepTable(rows));
      out['date'] = new Date().toISOString();
      out['steps'] = STEPS;
      out['rows'] = rows;
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  load.mark('end');
  out['machine'] = machineInfo({ load, backend: backend.name });
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(resultsPath, JSON.stringify(out, null, 2) + '\n');
  console.log('\nwrote bench/results/al-step.json');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
