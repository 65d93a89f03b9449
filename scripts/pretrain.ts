/**
 * `npm run pretrain` — pretrains the embedded default model (casam-tiny) from scratch on the generic
 * synthetic corpus, then exports `<out>/casam-tiny.safetensors` + README.md next to `training-log.jsonl`.
 *
 *   npm run pretrain -- [--out models/casam-tiny] [--steps 20000] [--batch 8] [--lr 1e-3] [--seed 1]
 *                       [--eval-every 250] [--threads N] [--targets-per-image 4] [--warmup 250]
 *                       [--checkpoint-every 25] [--eval-images 64] [--backend wasm|cpu|…]
 *                       [--no-resume] [--export-only] [--bench]
 *
 * Ctrl-C / SIGTERM finish the current step, save a checkpoint and exit (130); running the same command again
 * resumes from `<out>/checkpoints/latest.safetensors`. `--bench` times training steps and exits.
 * Exit codes: 0 done, 1 internal error, 2 usage error, 4 checkpoint problem, 5 backend unavailable, 130 stopped.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BackendName,
  getPreset,
  initBackend,
  isPresetName,
  loadSamWeights,
  readSafetensors,
} from '@casam/casam-core';
import {
  CHECKPOINT_FILE,
  CliUsageError,
  type CorpusVersion,
  GENERIC_CORPUS_VERSIONS,
  numberFlag,
  parseCliArgs,
  PretrainCheckpointError,
  PretrainOptionsError,
  benchmarkPretrainSteps,
  exportPretrainedModel,
  warmStartStateDict,
  createGenericCorpus,
  createRealCorpus,
  mixCorpora,
  REAL_CORPUS_VERSION,
  type RealImage,
  WarmStartError,
  loadCheckpoint,
  pretrain,
} from '@casam/casam-lab';
import { EXIT_CODES } from '@casam/protocol';

interface Args {
  out: string;
  steps: number;
  batch: number;
  lr: number;
  seed?: number;
  evalEvery: number;
  evalImages: number;
  threads?: number;
  targetsPerImage: number;
  warmup: number;
  checkpointEvery: number;
  backend: BackendName | 'auto';
  resume: boolean;
  exportOnly: boolean;
  bench: boolean;
  benchSteps: number;
  preset: string;
  initFrom?: string;
  initPreset: string;
  realCorpus?: string;
  realFraction: number;
  corpusVersion: CorpusVersion;
  domainEvalImages: number;
  freezeEncoder: boolean;
}

const HELP = `usage: npm run pretrain -- [options]
  --out DIR               output folder (default models/<preset>)
  --preset NAME           model to train: casam-tiny (default) or casam-small (8-px patches, 32×32 grid)
  --init-from FILE        warm start from a trained model's weights (e.g. models/casam-tiny/casam-tiny.safetensors;
                          grid-dependent tensors are resampled); used only when no checkpoint is resumed
  --init-preset NAME      the preset of the --init-from weights (default casam-tiny)
  --real-corpus FILE      mix in real images (npm run prepare:real-corpus); checked against FILE's .json manifest
  --real-fraction P       share of training images drawn from the real corpus (default 0.5)
  --corpus-version N      generic corpus generator: 2 (default), 3 (adds wholes: outlined regions, clusters,
                          rows, nested groups as one target) or 4 (3's scenes; a target is the object's footprint:
                          nested contents and clutter on it included) or 5 (4 plus capsules around a body and
                          annuli of blobs around a lumen; see generic-corpus.ts)
  --domain-eval-images N  with each evaluation, also score frozen box IoU vs box-fill on N validation images of
                          each of the 12 synthetic benchmark domains (default 8; 0 = off)
  --freeze-encoder        train the prompt encoder and mask decoder only (the image encoder runs forward only)
  --steps N               total optimizer steps of the run (default 20000; 0 with --init-from: export the warm
                          start itself, after its evaluation)
  --batch N               images per step (default 8)
  --targets-per-image N   prompts/masks per image (default 4)
  --lr X                  peak learning rate (default 1e-3; warm-up then cosine)
  --warmup N              warm-up steps (default 250)
  --seed N                corpus and init seed (default 1; fixed by the checkpoint when resuming)
  --eval-every N          held-out evaluation every N steps (default 250)
  --eval-images N         held-out images (default 64, 2 targets each)
  --checkpoint-every N    checkpoint every N steps (default 25)
  --threads N             wasm threads (default: all cores up to 8)
  --backend NAME          auto | tfjs-node-gpu | tfjs-node | wasm (default) | cpu
  --no-resume             start over even if a checkpoint exists (it is overwritten)
  --export-only           export the latest checkpoint's weights + README and exit
  --bench                 time a few training steps (no files written) and exit
  --bench-steps N         timed steps for --bench (default 5)`;

function parseArgs(argv: string[]): Args {
  const v = parseCliArgs(
    HELP,
    {
      out: { type: 'string' },
      steps: { type: 'string', default: '20000' },
      batch: { type: 'string', default: '8' },
      lr: { type: 'string', default: '1e-3' },
      seed: { type: 'string' },
      'eval-every': { type: 'string', default: '250' },
      'eval-images': { type: 'string', default: '64' },
      threads: { type: 'string' },
      'targets-per-image': { type: 'string', default: '4' },
      warmup: { type: 'string', default: '250' },
      'checkpoint-every': { type: 'string', default: '25' },
      backend: { type: 'string', default: 'wasm' },
      preset: { type: 'string', default: 'casam-tiny' },
      'init-from': { type: 'string' },
      'init-preset': { type: 'string', default: 'casam-tiny' },
      'real-corpus': { type: 'string' },
      'real-fraction': { type: 'string', default: '0.5' },
      'corpus-version': { type: 'string', default: '2' },
      'domain-eval-images': { type: 'string', default: '8' },
      'freeze-encoder': { type: 'boolean', default: false },
      'no-resume': { type: 'boolean', default: false },
      'export-only': { type: 'boolean', default: false },
      bench: { type: 'boolean', default: false },
      'bench-steps': { type: 'string', default: '5' },
    },
    { argv },
  );
  const int = (name: keyof typeof v, min: number): number =>
    numberFlag(name, v[name] as string, { integer: true, min }) as number;
  const backend = v.backend;
  if (!['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'].includes(backend))
    throw new CliUsageError('--backend must be auto, tfjs-node-gpu, tfjs-node, wasm or cpu');
  if (!isPresetName(v.preset)) throw new CliUsageError(`--preset: unknown preset ${v.preset}`);
  if (!isPresetName(v['init-preset']))
    throw new CliUsageError(`--init-preset: unknown preset ${v['init-preset']}`);
  const corpusVersion = int('corpus-version', 2);
  if (!GENERIC_CORPUS_VERSIONS.includes(corpusVersion))
    throw new CliUsageError(`--corpus-version must be one of ${GENERIC_CORPUS_VERSIONS.join(', ')}`);
  const realFraction = numberFlag('real-fraction', v['real-fraction'], { min: 0, max: 1 }) as number;
  const lr = numberFlag('lr', v.lr) as number;
  if (!(lr > 0)) throw new CliUsageError('--lr must be positive');
  return {
    out: v.out ?? `models/${v.preset}`,
    steps: int('steps', 0),
    batch: int('batch', 1),
    lr,
    ...(v.seed !== undefined ? { seed: int('seed', 0) } : {}),
    evalEvery: int('eval-every', 1),
    evalImages: int('eval-images', 1),
    ...(v.threads !== undefined ? { threads: int('threads', 1) } : {}),
    targetsPerImage: int('targets-per-image', 1),
    warmup: int('warmup', 0),
    checkpointEvery: int('checkpoint-every', 1),
    backend: backend as BackendName | 'auto',
    resume: !v['no-resume'],
    exportOnly: v['export-only'],
    bench: v.bench,
    benchSteps: int('bench-steps', 1),
    preset: v.preset,
    ...(v['init-from'] !== undefined ? { initFrom: v['init-from'] } : {}),
    initPreset: v['init-preset'],
    ...(v['real-corpus'] !== undefined ? { realCorpus: v['real-corpus'] } : {}),
    realFraction,
    corpusVersion: corpusVersion as CorpusVersion,
    domainEvalImages: int('domain-eval-images', 0),
    freezeEncoder: v['freeze-encoder'],
  };
}

/** The generic corpus's name in checkpoints: version 2 keeps the name it always had. */
function genericName(version: CorpusVersion): string {
  return version === 2 ? 'generic' : `generic/${version}`;
}

/** The generic corpus alone, at a generator version other than the default. */
function genericCorpus(
  version: CorpusVersion,
): NonNullable<Parameters<typeof pretrain>[0]['corpus']> | undefined {
  if (version === 2) return undefined;
  return {
    name: genericName(version),
    create: (seed, size, targetsPerImage) => createGenericCorpus({ seed, size, targetsPerImage, version }),
  };
}

/** The generic corpus mixed with the prepared real images, verified against their manifest. */
function loadRealCorpus(
  file: string,
  fraction: number,
  version: CorpusVersion,
): NonNullable<Parameters<typeof pretrain>[0]['corpus']> {
  const bytes = readFileSync(resolve(file));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const manifestPath = resolve(file).replace(/\.safetensors$/, '.json');
  if (existsSync(manifestPath)) {
    const want = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { sha256?: string }).sha256;
    if (want !== sha)
      throw new PretrainCheckpointError(
        `${file}: sha256 ${sha} does not match its manifest (${want}); run npm run prepare:real-corpus again`,
      );
  }
  const images: RealImage[] = [...readSafetensors(new Uint8Array(bytes)).tensors].map(([id, t]) => ({
    id,
    height: t.shape[0],
    width: t.shape[1],
    channels: t.shape[2] as 1 | 3,
    data: t.data as Uint8Array,
  }));
  console.log(
    `real corpus ${file}: ${images.length} images (sha256 ${sha.slice(0, 12)}…), ${fraction} of each batch`,
  );
  return {
    name: `${genericName(version)}+real/${REAL_CORPUS_VERSION}(${sha.slice(0, 12)},${fraction})`,
    create: (seed, size, targetsPerImage) =>
      mixCorpora(
        seed,
        createGenericCorpus({ seed, size, targetsPerImage, version }),
        createRealCorpus({ seed, size, targetsPerImage, images }),
        fraction,
      ),
  };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  const PRESET = a.preset;
  const command = ['npm run pretrain', ...(argv.length ? ['--', ...argv] : [])].join(' ');
  const outDir = resolve(a.out);
  const info = await initBackend({ prefer: a.backend, wasmThreads: a.threads });
  if (a.bench) {
    benchmarkPretrainSteps(
      {
        outDir,
        preset: PRESET,
        steps: a.steps,
        batch: a.batch,
        targetsPerImage: a.targetsPerImage,
        lr: a.lr,
        seed: a.seed,
      },
      a.benchSteps,
    );
    return EXIT_CODES.ok;
  }
  const cfg = getPreset(PRESET);

  if (!a.exportOnly) {
    const controller = new AbortController();
    let signals = 0;
    const onSignal = (name: string): void => {
      signals++;
      if (signals > 1) {
        console.error(`${name} again: exiting without saving`);
        process.exit(EXIT_CODES.interrupted);
      }
      console.log(`${name}: finishing this step, saving a checkpoint, then exiting (again to abort at once)`);
      controller.abort();
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    let initWeights: ReturnType<typeof loadSamWeights> | undefined;
    if (a.initFrom && !(a.resume && existsSync(join(outDir, CHECKPOINT_FILE)))) {
      const fromCfg = getPreset(a.initPreset);
      const { weights, report } = warmStartStateDict(
        fromCfg,
        loadSamWeights(resolve(a.initFrom), fromCfg),
        cfg,
      );
      console.log(
        `warm start from ${a.initFrom} (${a.initPreset}): ${report.copied} tensors copied, ` +
          `${report.resampled.length} resampled (${report.resampled.length ? report.resampled.join(', ') : 'none'})`,
      );
      initWeights = weights;
    }
    const result = await pretrain({
      outDir,
      corpus:
        a.realCorpus && a.realFraction > 0
          ? loadRealCorpus(a.realCorpus, a.realFraction, a.corpusVersion)
          : genericCorpus(a.corpusVersion),
      domainEvalImages: a.domainEvalImages,
      freezeEncoder: a.freezeEncoder,
      initWeights,
      initFrom: a.initFrom && `${a.initFrom} (${a.initPreset})`,
      preset: PRESET,
      steps: a.steps,
      batch: a.batch,
      targetsPerImage: a.targetsPerImage,
      lr: a.lr,
      warmupSteps: a.warmup,
      seed: a.seed,
      evalEvery: a.evalEvery,
      evalImages: a.evalImages,
      checkpointEvery: a.checkpointEvery,
      resume: a.resume,
      signal: controller.signal,
      command,
      backend: info.summary,
    });
    if (!result.finished) return 130;
  }

  const ckptPath = join(outDir, CHECKPOINT_FILE);
  if (!existsSync(ckptPath)) throw new PretrainCheckpointError(`${ckptPath}: no checkpoint to export`);
  const ckpt = loadCheckpoint(ckptPath);
  const opts = ckpt.meta.options;
  const exported = exportPretrainedModel(outDir, cfg, ckpt.weights, {
    command: ckpt.meta.command ?? command,
    seed: ckpt.meta.seed,
    step: ckpt.meta.step,
    imagesSeen: ckpt.meta.nextSample,
    elapsedSeconds: ckpt.meta.elapsedSeconds,
    backend: ckpt.meta.backend ?? info.summary,
    options: opts,
    evalImages: typeof opts['evalImages'] === 'number' ? opts['evalImages'] : a.evalImages,
  });
  const r = exported.eval;
  console.log(
    `exported ${exported.weightsPath} (${exported.bytes} bytes, step ${ckpt.meta.step}): held-out box IoU ` +
      `${r.boxIou.toFixed(4)} vs box-fill ${r.boxFillIou.toFixed(4)}, 1-point IoU ${r.pointIou.toFixed(4)}`,
  );
  return EXIT_CODES.ok;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof CliUsageError || e instanceof PretrainOptionsError) {
      console.error(`pretrain: ${e.message}`);
      process.exit(EXIT_CODES.usage);
    }
    if (e instanceof PretrainCheckpointError || e instanceof WarmStartError) {
      console.error(`pretrain: ${e.message}`);
      process.exit(EXIT_CODES.model);
    }
    if (e instanceof Error && e.name === 'BackendUnavailableError') {
      console.error(`pretrain: ${e.message}`);
      process.exit(EXIT_CODES.backend);
    }
    console.error(e);
    process.exit(EXIT_CODES.internal);
  },
);
