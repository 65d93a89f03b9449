/**
 * `npm run bench:real` — real labelled volumes, held out by volume (never by slice), per structure:
 *
 *   frozen        plain SAM, zero-shot, one tight box per structure per slice
 *   casam         the structure's Alignment Layer (+ VAE, τ) trained by trainTask, the site pipeline, with the
 *                 defaults `site-agent train` uses (Alignment Layer epochs, batch, learning rate, VAE, τ)
 *   casamDecoder  the same with a rank-4 decoder LoRA delta trained with the layer (trainTask's `decoderLora`,
 *                 DECODER_ADAPTER of continual/protocol.ts)
 *   boxFill       the prompt box itself as the mask
 *
 * Training slices come from the training volumes, test slices from the held-out volumes (bench/real/data.ts:
 * which volumes; libs/casam-lab/src/bench/real-split.ts: the split). A structure with a single volume is split
 * into disjoint slabs with gap slices between them; the report marks those rows as weaker evidence. The layer
 * is evaluated on its own structure's test slices (no routing among structures). Every slice is embedded once
 * into the cache; the trainer's phases are resumable in the work folder and the finished arms sit in the
 * state file, so the same command continues after Ctrl-C or a kill.
 *
 *   apt-get install insighttoolkit5-examples invesalius-examples   (vtk.js 6.4.19 comes from the npm registry)
 *   npm run bench:real -- [--quick] [--model <file> --preset <name>] [--structures brain,bone,head]
 *
 * Writes <out>/real.json and real.md (`--quick`: real-quick.*). Exit codes: 0 done, 1 internal error,
 * 2 usage, 3 data missing (the message names the apt-get install), 4 model problem, 5 backend unavailable,
 * 130 stopped (resumable).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import {
  BackendUnavailableError,
  DEFAULT_AL_EPOCHS,
  DEFAULT_VAE_OPTIONS,
  TrainingAbortedError,
  TrainingItem,
  buildSam,
  createTfjsSamEngine,
  grayToRgb,
  initBackend,
  readSafetensors,
  trainTask,
  writeFileAtomic,
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
} from '@casam/casam-core';
import {
  CliUsageError,
  LoadCheckpoints,
  StructureSplit,
  assertDisjoint,
  evenlySpaced,
  inUnits,
  machineInfo,
  numberFlag,
  parseCliArgs,
  splitStructure,
  stopOnSignal,
  RealDataError,
  RealManifest,
  RealSlice,
  prepareRealBench,
  readRealCache,
  type BenchModel,
  BenchModelError,
  loadBenchModel,
} from '@casam/casam-lab';
import { EXIT_CODES } from '@casam/protocol';
import { DECODER_ADAPTER } from './continual/protocol';
import { BenchProgress, fmtDuration } from './continual/progress';

const root = resolve(__dirname, '..');
const DEFAULT_CACHE = 'bench/results/.real-work/real-slices.safetensors';
const DEFAULT_MANIFEST = 'bench/results/real-data.json';

const USAGE = `usage: npm run bench:real -- [options]
  --quick               a short run: at most 12 training / 8 test slices per structure, 3 epochs, 3 VAE epochs
  --model PATH          base model weights (default ${DEFAULT_MODEL_FILE}, the embedded default)
  --preset NAME         its preset (default ${DEFAULT_PRESET})
  --structures LIST     comma-separated subset of brain,bone,head (default all)
  --epochs N            Alignment Layer epochs (default: the trainer's, ${DEFAULT_AL_EPOCHS}; --quick 3)
  --vae-epochs N        VAE epochs (default: the trainer's, ${DEFAULT_VAE_OPTIONS.epochs}; --quick 3)
  --max-train N / --max-test N   slices per structure, evenly spaced (default all; --quick 12 / 8)
  --slabs N --gap N     single-volume structures: N slabs (default 4), N slices between slabs (default 2)
  --seed N              seed of prompts, batches and initial weights (default 0)
  --threads N           wasm threads
  --cache PATH          slice cache (default ${DEFAULT_CACHE}; made by npm run prepare:real-bench,
                        or here when missing)
  --out DIR             results folder (default bench/results)
  --work DIR            work folder (default <out>/.real-work)
  --restart             discard this plan's state and work folder first
  --help, -h            print this text`;

interface Args {
  quick: boolean;
  model: string;
  preset: string;
  structures: string[] | null;
  epochs: number;
  vaeEpochs: number;
  maxTrain: number | null;
  maxTest: number | null;
  slabs: number;
  gap: number;
  seed: number;
  threads: number | null;
  cache: string;
  out: string;
  work: string | null;
  restart: boolean;
}

function parseArgs(argv: string[]): Args {
  const values = parseCliArgs(
    USAGE,
    {
      quick: { type: 'boolean', default: false },
      model: { type: 'string', default: DEFAULT_MODEL_FILE },
      preset: { type: 'string', default: DEFAULT_PRESET },
      structures: { type: 'string' },
      epochs: { type: 'string' },
      'vae-epochs': { type: 'string' },
      'max-train': { type: 'string' },
      'max-test': { type: 'string' },
      slabs: { type: 'string', default: '4' },
      gap: { type: 'string', default: '2' },
      seed: { type: 'string', default: '0' },
      threads: { type: 'string' },
      cache: { type: 'string', default: DEFAULT_CACHE },
      out: { type: 'string', default: 'bench/results' },
      work: { type: 'string' },
      restart: { type: 'boolean', default: false },
    },
    { argv },
  );
  const int = (name: string, v: string | undefined, min: number): number | null =>
    numberFlag(name, v, { integer: true, min }) ?? null;
  const quick = values.quick;
  return {
    quick,
    model: values.model,
    preset: values.preset,
    structures: values.structures ? values.structures.split(',').map((s) => s.trim()) : null,
    epochs: int('epochs', values.epochs, 1) ?? (quick ? 3 : DEFAULT_AL_EPOCHS),
    vaeEpochs: int('vae-epochs', values['vae-epochs'], 1) ?? (quick ? 3 : DEFAULT_VAE_OPTIONS.epochs),
    maxTrain: int('max-train', values['max-train'], 1) ?? (quick ? 12 : null),
    maxTest: int('max-test', values['max-test'], 1) ?? (quick ? 8 : null),
    slabs: int('slabs', values.slabs, 2)!,
    gap: int('gap', values.gap, 0)!,
    seed: int('seed', values.seed, 0)!,
    threads: int('threads', values.threads, 1),
    cache: values.cache,
    out: values.out,
    work: values.work ?? null,
    restart: values.restart,
  };
}

type Arm = 'frozen' | 'casam' | 'casamDecoder' | 'boxFill';
const ARMS: Arm[] = ['frozen', 'casam', 'casamDecoder', 'boxFill'];
const ARM_LABEL: Record<Arm, string> = {
  frozen: 'frozen SAM',
  casam: 'CA-SAM',
  casamDecoder: 'CA-SAM + decoder adapter',
  boxFill: 'box-fill',
};

interface Metric {
  iou: number;
  dice: number;
  images: number;
  regions: number;
}

interface StructureResult {
  split: StructureSplit & { trainSlices: number; testSlices: number };
  metrics: Partial<Record<Arm, Metric>>;
  tau?: { casam: number; casamDecoder?: number };
  seconds: { casam?: number; casamDecoder?: number };
}

interface State {
  hash: string;
  structures: Record<string, StructureResult>;
}

function loadModel(args: Args): BenchModel {
  return loadBenchModel(args.model, {
    preset: args.preset,
    notFoundHint: 'Pass --model <weights.safetensors> (or a pretraining checkpoint).',
  });
}

function modelStep(path: string): string | null {
  if (!path.endsWith('.safetensors')) return null;
  try {
    return readSafetensors(new Uint8Array(readFileSync(path))).metadata['step'] ?? null;
  } catch {
    return null;
  }
}

/** The slice cache, made from the installed packages when it is missing (or its size is not the model's). */
function loadCache(
  args: Args,
  size: number,
  log: (s: string) => void,
): { slices: Map<string, RealSlice>; manifest: RealManifest } {
  const cachePath = resolve(args.cache);
  const manifestPath = resolve(root, DEFAULT_MANIFEST);
  let fresh = !existsSync(cachePath) || !existsSync(manifestPath);
  if (!fresh) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as RealManifest;
    const bytes = new Uint8Array(readFileSync(cachePath));
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (m.size !== size || m.sha256 !== sha) {
      log(`  slice cache ${relative(root, cachePath)} is for size ${m.size} or stale: preparing it again`);
      fresh = true;
    } else return { slices: readRealCache(bytes).slices, manifest: m };
  }
  log(`  preparing the slice cache from the installed packages (npm run prepare:real-bench does the same)…`);
  const { bytes, manifest } = prepareRealBench({
    root: '/',
    size,
    minPixels: 64,
    corpusManifest: 'models/casam-small-r1/real-corpus.json',
    log: (s) => log('  ' + s),
  });
  mkdirSync(dirname(cachePath), { recursive: true });
  writeFileSync(cachePath, bytes);
  writeFileSync(manifestPath, JSON.stringify({ ...manifest, cache: args.cache }, null, 2) + '\n');
  return { slices: readRealCache(bytes).slices, manifest };
}

function toItem(s: RealSlice, structure: string, size: number): TrainingItem {
  const mask = s.masks[structure];
  if (!mask) throw new Error(`internal: ${s.volume}/${s.index} has no ${structure} mask`);
  return {
    id: `real:${s.volume}:${s.index}:${structure}`,
    image: { width: size, height: size, data: grayToRgb(s.image) },
    masks: [{ classId: structure, mask }],
  };
}

const f3 = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(3));

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** What the splits are worth, in words: by volume where a structure has two volumes, slabs (weaker) where one. */
function splitNote(splits: [string, 'volume' | 'slab'][]): string {
  const by = (k: 'volume' | 'slab'): string[] => splits.filter(([, b]) => b === k).map(([n]) => n);
  const parts: string[] = [];
  if (by('volume').length)
    parts.push(
      `${by('volume').join(', ')}: trained on one volume and tested on another (another patient and scanner)`,
    );
  if (by('slab').length)
    parts.push(
      `${by('slab').join(', ')}: a single labelled volume in the packages found, split into disjoint slabs with gap ` +
        'slices between them (same patient and scanner on both sides: weaker evidence than separate volumes)',
    );
  return parts.join('; ') + '. The code splits by volume as soon as a structure has two or more.';
}

function renderMarkdown(
  res: Record<string, unknown>,
  structures: Record<string, StructureResult>,
  quick: boolean,
  pending: string[],
): string {
  const names = Object.keys(structures);
  const lines: string[] = [];
  lines.push(`# bench:real${quick ? ' (--quick)' : ''}: real labelled volumes, held out by volume`);
  lines.push('');
  if (pending.length) {
    lines.push(`**Partial run**: still to do ${pending.join(', ')} (the same command continues).`);
    lines.push('');
  }
  lines.push(
    `Base model ${(res['model'] as { preset: string }).preset} (\`${(res['model'] as { path: string }).path}\`). ` +
      "One tight box per structure per test slice; IoU / Dice are means over the test slices (the trainer's evaluation, `mask = logits > 0`). " +
      "CA-SAM is the structure's own Alignment Layer (no routing among structures). Command: `" +
      String(res['command']) +
      '`.',
  );
  lines.push('');
  lines.push(
    '| structure | volumes (train → test) | split | train / test slices | ' +
      ARMS.map((a) => ARM_LABEL[a] + ' IoU / Dice').join(' | ') +
      ' |',
  );
  lines.push('|---|---|---|---|' + ARMS.map(() => '---').join('|') + '|');
  for (const n of names) {
    const r = structures[n];
    const sp = r.split;
    const units = (us: typeof sp.train): string =>
      us.map((u) => (sp.by === 'slab' ? `${u.volume}[${u.from}–${u.to - 1}]` : u.volume)).join(', ');
    lines.push(
      `| ${n} | ${units(sp.train)} → ${units(sp.test)} | ${sp.by === 'slab' ? '**slabs of one volume (weaker evidence)**' : 'by volume'} | ${sp.trainSlices} / ${sp.testSlices} | ` +
        ARMS.map((a) => `${f3(r.metrics[a]?.iou)} / ${f3(r.metrics[a]?.dice)}`).join(' | ') +
        ' |',
    );
  }
  const done = names.filter((n) => ARMS.every((a) => structures[n].metrics[a]));
  if (done.length)
    lines.push(
      `| **mean** (${done.length} structure${done.length === 1 ? '' : 's'}) | | | | ` +
        ARMS.map(
          (a) =>
            `${f3(mean(done.map((n) => structures[n].metrics[a]!.iou)))} / ${f3(mean(done.map((n) => structures[n].metrics[a]!.dice)))}`,
        ).join(' | ') +
        ' |',
    );
  lines.push('');
  lines.push('## Data');
  lines.push('');
  const data = res['data'] as { manifest: RealManifest };
  for (const v of data.manifest.volumes) {
    lines.push(
      `- **${v.id}** (${v.modality}, ${v.nativeSize.join('×')}×${v.slices}, ${v.spacingMm.map((x) => x.toFixed(2)).join('×')} mm): ` +
        v.sources
          .map(
            (s) =>
              `\`${s.file}\` from ${s.package} ${s.version} (${s.licence}; sha256 ${s.sha256.slice(0, 12)}…)`,
          )
          .join('; '),
    );
    for (const s of v.structures) lines.push(`  - ${s.name}: ${s.label}; on ${s.slices.length} slices`);
  }
  lines.push('');
  lines.push(
    `No volume is in the real-image pretraining corpus (checked against \`${data.manifest.notInPretrainingCorpus.manifest}\`, ${data.manifest.notInPretrainingCorpus.corpusFiles} files). ` +
      splitNote(names.map((n) => [n, structures[n].split.by])),
  );
  lines.push('');
  const machine = res['machine'] as { cpus?: number; cpuModel?: string };
  lines.push(`Machine: ${JSON.stringify(machine)}`);
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const command = `npm run bench:real${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const load = new LoadCheckpoints();
  const backend = await initBackend({
    prefer: 'wasm',
    wasmThreads: args.threads ?? undefined,
    log,
  });
  const { cfg, sd, fingerprint } = loadModel(args);
  const size = cfg.imgSize;
  const { slices, manifest } = loadCache(args, size, log);

  // ---- split ---------------------------------------------------------------------------------------------
  const byStructure = new Map<string, { volumes: { id: string; slices: number }[] }>();
  for (const v of manifest.volumes)
    for (const s of v.structures) {
      if (!byStructure.has(s.name)) byStructure.set(s.name, { volumes: [] });
      byStructure.get(s.name)!.volumes.push({ id: v.id, slices: v.slices });
    }
  const names = args.structures ?? [...byStructure.keys()];
  for (const n of names)
    if (!byStructure.has(n))
      throw new CliUsageError(`unknown structure ${n} (have ${[...byStructure.keys()].join(', ')})`);
  const plan = {
    quick: args.quick,
    preset: cfg.name,
    fingerprint,
    structures: names,
    epochs: args.epochs,
    vaeEpochs: args.vaeEpochs,
    maxTrain: args.maxTrain,
    maxTest: args.maxTest,
    slabs: args.slabs,
    gap: args.gap,
    seed: args.seed,
    cacheSha256: manifest.sha256,
    decoderAdapter: DECODER_ADAPTER,
    regions: 'classes',
  };
  const hash = createHash('sha256').update(JSON.stringify(plan)).digest('hex');
  const name = args.quick ? 'real-quick' : 'real';
  const outDir = resolve(args.out);
  const workRoot = resolve(args.work ?? join(outDir, '.real-work'));
  const work = join(workRoot, hash.slice(0, 16));
  const cacheDir = join(workRoot, 'embeddings');
  const statePath = join(work, 'state.json');
  if (args.restart) rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const state: State = existsSync(statePath)
    ? (JSON.parse(readFileSync(statePath, 'utf8')) as State)
    : { hash, structures: {} };
  const save = (): void => writeFileAtomic(statePath, JSON.stringify(state, null, 2) + '\n');

  const data = new Map<string, { split: StructureSplit; train: TrainingItem[]; test: TrainingItem[] }>();
  for (const n of names) {
    const split = splitStructure(n, byStructure.get(n)!.volumes, { slabs: args.slabs, gap: args.gap });
    assertDisjoint(split, args.gap);
    const kept = manifest.volumes.flatMap((v) =>
      (v.structures.find((s) => s.name === n)?.slices ?? []).map((k) => slices.get(`${v.id}/${k}`)!),
    );
    const side = (units: StructureSplit['train'], max: number | null): TrainingItem[] => {
      const list = kept.filter((s) => inUnits(units, s.volume, s.index));
      return (max ? evenlySpaced(list, max) : list).map((s) => toItem(s, n, size));
    };
    const train = side(split.train, args.maxTrain);
    const test = side(split.test, args.maxTest);
    if (!train.length || !test.length)
      throw new RealDataError(`${n}: no training or no test slices after the split`);
    data.set(n, { split, train, test });
    const r = (state.structures[n] ??= {
      split: { ...split, trainSlices: train.length, testSlices: test.length },
      metrics: {},
      seconds: {},
    });
    r.split = { ...split, trainSlices: train.length, testSlices: test.length };
  }
  save();

  log(
    `real-volume benchmark (${args.quick ? 'quick' : 'full'}): ${cfg.name} ${args.model} (${fingerprint.slice(0, 19)}…), ` +
      names.map((n) => `${n} ${data.get(n)!.train.length}/${data.get(n)!.test.length}`).join(', ') +
      ` train/test slices, ${args.epochs} epochs; work ${relative(root, work)}`,
  );

  const { signal } = stopOnSignal();

  // ---- report (after every finished arm, so a stopped run leaves its partial results) -------------------
  const report = (final: boolean): void => {
    if (final) load.mark('end');
    const pending = names.flatMap((n) =>
      ARMS.filter((a) => !state.structures[n].metrics[a]).map((a) => `${n} ${a}`),
    );
    const done = names.filter((n) => ARMS.every((a) => state.structures[n].metrics[a]));
    const results: Record<string, unknown> = {
      benchmark: 'real',
      complete: pending.length === 0,
      pending,
      command,
      quick: args.quick,
      model: { path: args.model, preset: cfg.name, fingerprint, step: modelStep(resolve(args.model)) },
      plan,
      data: {
        manifest,
        manifestPath: DEFAULT_MANIFEST,
        note: splitNote(names.map((n) => [n, data.get(n)!.split.by])),
      },
      structures: Object.fromEntries(names.map((n) => [n, state.structures[n]])),
      mean: Object.fromEntries(
        ARMS.map((a) => [
          a,
          done.length
            ? {
                iou: mean(done.map((n) => state.structures[n].metrics[a]!.iou)),
                dice: mean(done.map((n) => state.structures[n].metrics[a]!.dice)),
                structures: done.length,
              }
            : null,
        ]),
      ),
      backend: backend.summary,
      machine: machineInfo({ load, backend: backend.name }),
      writtenAt: new Date().toISOString(),
    };
    writeFileAtomic(join(outDir, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
    writeFileAtomic(
      join(outDir, `${name}.md`),
      renderMarkdown(results, state.structures, args.quick, pending),
    );
    if (!final) return;
    log(
      `wrote ${relative(root, join(outDir, name + '.json'))} and ${name}.md${pending.length ? ` (partial: ${pending.join(', ')} to go)` : ''}`,
    );
    for (const a of ARMS) {
      const m = results['mean'] as Record<Arm, { iou: number; dice: number } | null>;
      if (m[a]) log(`  mean ${ARM_LABEL[a]}: IoU ${f3(m[a]!.iou)}, Dice ${f3(m[a]!.dice)}`);
    }
  };

  const sam = buildSam(cfg, sd);
  const engine = createTfjsSamEngine(sam);
  const stepsOf = (n: number): number => args.epochs * Math.ceil(n / 6);
  const total = names.reduce((s, n) => s + 2 * stepsOf(data.get(n)!.train.length), 0);
  const progress = new BenchProgress(total);
  for (const n of names) {
    const r = state.structures[n];
    if (r.metrics.casam) progress.skip(stepsOf(data.get(n)!.train.length));
    if (r.metrics.casamDecoder) progress.skip(stepsOf(data.get(n)!.train.length));
  }

  for (const n of names) {
    const d = data.get(n)!;
    const r = state.structures[n];
    for (const arm of ['casam', 'casamDecoder'] as const) {
      if (r.metrics[arm]) continue;
      progress.unit(`${n} ${ARM_LABEL[arm]}`);
      const t0 = performance.now();
      const res = await trainTask({
        taskId: n,
        train: d.train,
        val: d.test,
        engine,
        sam,
        baseModel: { preset: cfg.name, fingerprint },
        cacheDir,
        workDir: join(work, n, arm),
        seed: args.seed,
        al: {
          epochs: args.epochs,
          regions: { split: 'classes' },
          ...(arm === 'casamDecoder' ? { decoderLora: { ...DECODER_ADAPTER } } : {}),
        },
        vae: { epochs: args.vaeEpochs },
        boundaryIou: false,
        createdAt: new Date(0),
        signal,
        onProgress: (p) => {
          if (p.align?.kind === 'step')
            progress.step(
              `epoch ${p.align.epoch}/${p.align.epochs} step ${p.align.step}/${p.align.stepsPerEpoch} loss ${p.align.loss.toFixed(3)}`,
            );
          else if (p.embed && (p.embed.done === p.embed.total || p.embed.done % 20 === 0))
            progress.status(`embedding ${p.embed.split} ${p.embed.done}/${p.embed.total}`, true);
          else if (p.status === 'start' && p.phase !== 'embed') progress.status(p.phase, true);
        },
      });
      const m = (x: { iou: number; dice: number; images: number; regions: number }): Metric => ({
        iou: x.iou,
        dice: x.dice,
        images: x.images,
        regions: x.regions,
      });
      r.metrics[arm] = m(res.evaluation.align);
      if (arm === 'casam') {
        r.metrics.frozen = m(res.evaluation.frozen);
        r.metrics.boxFill = m(res.evaluation.boxFill);
      }
      r.tau = { ...(r.tau ?? { casam: NaN }), [arm]: res.tau.tau };
      r.seconds[arm] = (performance.now() - t0) / 1000;
      save();
      report(false);
      progress.log(
        `  ${n} ${ARM_LABEL[arm]}: IoU ${f3(res.evaluation.align.iou)} Dice ${f3(res.evaluation.align.dice)} ` +
          `(frozen ${f3(res.evaluation.frozen.iou)}, box-fill ${f3(res.evaluation.boxFill.iou)}) on ${res.evaluation.align.images} test slices, ` +
          `${fmtDuration(r.seconds[arm]!)}`,
      );
    }
  }

  report(true);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error;
    const fail = (code: number, msg: string): never => {
      process.stderr.write(`bench:real: ${msg}\n`);
      process.exit(code);
    };
    if (e instanceof CliUsageError) fail(EXIT_CODES.usage, `${err.message}\n${USAGE}`);
    if (e instanceof RealDataError) fail(EXIT_CODES.input, err.message);
    if (e instanceof BenchModelError) fail(EXIT_CODES.model, err.message);
    if (e instanceof BackendUnavailableError) fail(EXIT_CODES.backend, err.message);
    if (e instanceof TrainingAbortedError)
      fail(130, 'stopped; the same command continues from the finished steps');
    process.stderr.write((err?.stack ?? String(e)) + '\n');
    process.exit(EXIT_CODES.internal);
  },
);
