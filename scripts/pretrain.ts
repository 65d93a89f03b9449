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

class UsageError extends Error {
  override name = 'UsageError';
}

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
  corpusVersion: 2 | 3;
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
  --corpus-version N      generic corpus generator: 2 (default) or 3 (adds wholes: outlined regions, clusters,
                          rows, nested groups as one target; see generic-corpus.ts)
  --domain-eval-images N  with each evaluation, also score frozen box IoU vs box-fill on N validation images of
                          each of the 12 synthetic benchmark domains (default 8; 0 = off)
  --freeze-encoder        train the prompt encoder and mask decoder only (the image encoder runs forward only)
  --steps N               total optimizer steps of the run (default 20000)
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
  const a: Args = {
    out: '',
    steps: 20000,
    batch: 8,
    lr: 1e-3,
    evalEvery: 250,
    evalImages: 64,
    targetsPerImage: 4,
    warmup: 250,
    checkpointEvery: 25,
    backend: 'wasm',
    resume: true,
    exportOnly: false,
    bench: false,
    benchSteps: 5,
    preset: 'casam-tiny',
    initPreset: 'casam-tiny',
    realFraction: 0.5,
    corpusVersion: 2,
    domainEvalImages: 8,
    freezeEncoder: false,
  };
  const num = (flag: string, v: string | undefined): number => {
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError(`${flag}: not a number: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): string | undefined => argv[++i];
    switch (flag) {
      case '--out': {
        const v = next();
        if (!v) throw new UsageError('--out needs a folder');
        a.out = v;
        break;
      }
      case '--steps':
        a.steps = num(flag, next());
        break;
      case '--batch':
        a.batch = num(flag, next());
        break;
      case '--lr':
        a.lr = num(flag, next());
        break;
      case '--seed':
        a.seed = num(flag, next());
        break;
      case '--eval-every':
        a.evalEvery = num(flag, next());
        break;
      case '--eval-images':
        a.evalImages = num(flag, next());
        break;
      case '--threads':
        a.threads = num(flag, next());
        break;
      case '--targets-per-image':
        a.targetsPerImage = num(flag, next());
        break;
      case '--warmup':
        a.warmup = num(flag, next());
        break;
      case '--checkpoint-every':
        a.checkpointEvery = num(flag, next());
        break;
      case '--backend': {
        const v = next();
        if (!v || !['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'].includes(v))
          throw new UsageError(`--backend must be auto, tfjs-node-gpu, tfjs-node, wasm or cpu`);
        a.backend = v as BackendName | 'auto';
        break;
      }
      case '--preset': {
        const v = next();
        if (!v || !isPresetName(v)) throw new UsageError(`--preset: unknown preset ${v ?? ''}`);
        a.preset = v;
        break;
      }
      case '--init-from': {
        const v = next();
        if (!v) throw new UsageError('--init-from needs a weights file');
        a.initFrom = v;
        break;
      }
      case '--init-preset': {
        const v = next();
        if (!v || !isPresetName(v)) throw new UsageError(`--init-preset: unknown preset ${v ?? ''}`);
        a.initPreset = v;
        break;
      }
      case '--real-corpus': {
        const v = next();
        if (!v) throw new UsageError('--real-corpus needs a file (npm run prepare:real-corpus writes it)');
        a.realCorpus = v;
        break;
      }
      case '--real-fraction':
        a.realFraction = num(flag, next());
        if (!(a.realFraction >= 0 && a.realFraction <= 1))
          throw new UsageError('--real-fraction must be in [0, 1]');
        break;
      case '--corpus-version': {
        const v = num(flag, next());
        if (v !== 2 && v !== 3) throw new UsageError('--corpus-version must be 2 or 3');
        a.corpusVersion = v;
        break;
      }
      case '--domain-eval-images':
        a.domainEvalImages = num(flag, next());
        if (!(Number.isInteger(a.domainEvalImages) && a.domainEvalImages >= 0))
          throw new UsageError('--domain-eval-images must be an integer ≥ 0');
        break;
      case '--freeze-encoder':
        a.freezeEncoder = true;
        break;
      case '--no-resume':
        a.resume = false;
        break;
      case '--export-only':
        a.exportOnly = true;
        break;
      case '--bench':
        a.bench = true;
        break;
      case '--bench-steps':
        a.benchSteps = num(flag, next());
        break;
      case '--help':
      case '-h':
        console.log(HELP);
        process.exit(EXIT_CODES.ok);
        break;
      default:
        throw new UsageError(`unknown option ${flag}\n${HELP}`);
    }
  }
  return a;
}

/** The generic corpus's name in checkpoints: version 2 keeps the name it always had. */
function genericName(version: 2 | 3): string {
  return version === 2 ? 'generic' : `generic/${version}`;
}

/** The generic corpus alone, at a generator version other than the default. */
function genericCorpus(version: 2 | 3): NonNullable<Parameters<typeof pretrain>[0]['corpus']> | undefined {
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
  version: 2 | 3,
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
  if (!argv.includes('--out')) a.out = `models/${PRESET}`;
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
    if (e instanceof UsageError || e instanceof PretrainOptionsError) {
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
