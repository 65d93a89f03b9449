/**
 * `npm run bench:continual` — continual learning on the nine seen synthetic domains, CA-SAM against the usual
 * alternatives, all on the same frozen base model, the same data and the same step budget:
 *
 *   frozen      plain SAM, zero-shot (box prompts)
 *   casam       per task: Alignment Layer + VAE + τ (trainTask, the site pipeline); test images routed among
 *               the tasks seen so far, fallback to frozen SAM when the best score exceeds that task's τ
 *   casamDecoder  the same with a decoder LoRA delta trained with each task's layer (version 2 adapters; the
 *               router picks layer and delta together); paper order only (DECODER_ADAPTER in protocol.ts)
 *   sequential  one shared Alignment Layer fine-tuned task after task (naive continual learning)
 *   ewc         the same with online EWC (diagonal Fisher after each task, penalty λ/2·ΣF(θ−θ*)²)
 *   joint       one shared Alignment Layer trained on all nine tasks' data pooled (a reference the federation
 *               cannot have; final stage only)
 *
 * Tasks arrive in the paper's order and in seeded other orders; after each stage every seen task is evaluated
 * on its test images (one tight box per region, mask = logits > 0, IoU per region → image → task). Every image
 * is embedded once into the cache; training and evaluation only read embeddings. CA-SAM's layer, VAE and τ of a
 * task see only that task's data; each order trains its own set of them (own seeds), each test image is scored
 * under every layer and VAE of a set once, and the stage results of that order are lookups
 * (routed-evaluation.ts).
 *
 * Writes <out>/continual.json, continual.md and continual-*.png (`--quick`: continual-quick.*). Progress goes
 * to stderr. Ctrl-C stops after the current step; the finished units sit in <out>/<run>.state.json, the weights
 * the units still to run start from in <out>/continual-work/ (both committed for the full run, which outlasts a
 * working session: continual/resume-point.ts), and the same command continues from there (the npm script runs
 * `node --import tsx`, not the tsx CLI, whose signal relay kills a busy child 30 ms after Ctrl-C, before it can
 * stop cleanly; a killed run resumes too, from the last finished unit and epoch). Exit codes: 0 done, 1 internal
 * error, 2 usage, 4 model problem, 5 backend unavailable, 130 stopped (resumable).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import {
  AlignmentLayer,
  BackendUnavailableError,
  EmbeddedItem,
  IDENTITY_ALIGNMENT,
  ParameterMap,
  RegionMetrics,
  Sam,
  SamConfig,
  StateDict,
  TrainingAbortedError,
  TrainingItem,
  accumulateFisher,
  aggregateMetrics,
  alTrainingStepFlops,
  buildSam,
  computeFisherDiagonal,
  createAlignmentLayer,
  createDecoderLora,
  createEwcPenalty,
  createRouter,
  createTaskVae,
  createTfjsSamEngine,
  deriveSeed,
  ensureEmbeddings,
  evaluateBoxPrompts,
  float32Tensor,
  gridSize,
  initBackend,
  loadEmbedding,
  parameterSnapshot,
  prepareImage,
  readAdapterFile,
  readSafetensors,
  tf,
  trainAlignmentLayer,
  trainTask,
  writeSafetensors,
  writeFileAtomic,
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
} from '@casam/casam-core';
import {
  CliUsageError,
  DOMAIN_NAMES,
  UNSEEN_DOMAIN_NAMES,
  continualTaskOrders,
  failUsage,
  generateDomain,
  machineInfo,
  stopOnSignal,
  type BenchModel,
  BenchModelError,
  loadBenchModel,
} from '@casam/casam-lab';
import { BenchProgress, fmtDuration } from './continual/progress';
import { splitItems } from './domain-items';
import {
  BenchArgs,
  DECODER_ADAPTER,
  FULL,
  Plan,
  QUICK,
  USAGE,
  parseArgs,
  planHash,
  runName,
} from './continual/protocol';
import { buildResults, continualMachine, writeReport } from './continual/report';
import { casamTaskDir, decoderTaskDir, orderFinished, pruneWork } from './continual/resume-point';
import {
  CasamImage,
  CasamTaskRecord,
  DecoderAdapterTaskRecord,
  ImageRegions,
  MemoryPeak,
  StageRecord,
  StateMismatchError,
  casamTaskKey,
  openState,
  saveState,
} from './continual/state';

const root = resolve(__dirname, '..');

type AdapterFile = ReturnType<typeof readAdapterFile>;

interface Domain {
  name: string;
  unseen: boolean;
  trainItems: TrainingItem[];
  testItems: TrainingItem[];
  train: EmbeddedItem[];
  test: EmbeddedItem[];
}

/** Peak RSS and tensor bytes while `run` runs, sampled whenever `sample` is called (from progress events). */
function memoryTracker(): { sample: () => void; peak: () => MemoryPeak } {
  let rss = 0;
  let tensors = 0;
  const sample = (): void => {
    rss = Math.max(rss, process.memoryUsage().rss);
    tensors = Math.max(tensors, tf.memory().numBytes);
  };
  sample();
  return { sample, peak: () => ({ rssBytes: rss, tensorBytes: tensors }) };
}

function stepsOf(images: number, plan: Plan): number {
  return plan.epochs * Math.ceil(images / plan.batchImages);
}

function readStateDict(path: string): StateDict {
  return readSafetensors(new Uint8Array(readFileSync(path))).tensors;
}

function writeStateDict(path: string, entries: [string, StateDict][]): void {
  const tensors: [string, ReturnType<typeof float32Tensor>][] = [];
  for (const [prefix, sd] of entries)
    for (const [k, v] of sd) tensors.push([prefix + k, v as ReturnType<typeof float32Tensor>]);
  writeFileAtomic(path, writeSafetensors(tensors, {}));
}

function unprefixed(prefix: string, sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** Mean of the diagonal Fisher over all parameters (for the report's λ note). */
function fisherMean(f: ParameterMap): number {
  let s = 0;
  let n = 0;
  for (const t of f.values()) {
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) s += d[i];
    n += d.length;
  }
  return s / n;
}

async function timeEncoder(sam: Sam, runs: number): Promise<number> {
  const engine = createTfjsSamEngine(sam);
  const s = sam.config.imgSize;
  const img = generateDomain(DOMAIN_NAMES[0], { count: 1, size: s, seed: 999 })[0].image;
  const pre = prepareImage(img.data, s, s, sam.config).preprocessed;
  await engine.embed(pre);
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await engine.embed(pre);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

/**
 * Median time of an AL training step (batch × regions of the plan, from the cache), measured right after the
 * encoder so the two share the machine's load: 1 warm-up step, then 3 timed ones.
 */
async function timeAlStep(sam: Sam, pool: readonly EmbeddedItem[], plan: Plan): Promise<number> {
  const items = (n: number): EmbeddedItem[] =>
    Array.from({ length: n }, (_, i) => ({ ...pool[i % pool.length], id: `probe-${i}` }));
  const common = {
    sam,
    epochs: 1,
    batchImages: plan.batchImages,
    regionsPerImage: plan.regionsPerImage,
    seed: 1,
  };
  (await trainAlignmentLayer({ ...common, items: items(plan.batchImages) })).align.dispose();
  const marks: number[] = [];
  const r = await trainAlignmentLayer({
    ...common,
    items: items(3 * plan.batchImages),
    onProgress: (p) => void (p.kind === 'step' && marks.push(p.elapsedS * 1000)),
  });
  r.align.dispose();
  const steps = marks.map((m, i) => m - (i ? marks[i - 1] : 0)).sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

function loadModel(args: BenchArgs): BenchModel {
  const dflt = resolve(args.model) === resolve(root, DEFAULT_MODEL_FILE);
  return loadBenchModel(args.model, {
    preset: args.preset,
    notFoundHint: dflt
      ? `The embedded ${DEFAULT_PRESET} model is not exported yet: finish npm run pretrain (or export the latest checkpoint with npm run pretrain -- --export-only), or pass --model <file>.`
      : 'Pass --model <weights.safetensors|.pth> (or a pretraining checkpoint) for the --preset in use.',
  });
}

function makePlan(args: BenchArgs, cfg: SamConfig): Plan {
  const size = args.quick ? QUICK : FULL;
  return {
    quick: args.quick,
    preset: cfg.name,
    seed: args.seed,
    trainImages: args.trainImages ?? size.trainImages,
    testImages: args.testImages ?? size.testImages,
    epochs: args.epochs ?? size.epochs,
    batchImages: 6,
    regionsPerImage: 5,
    regions: 'components',
    data: { size: cfg.imgSize, seed: args.seed },
    orders: continualTaskOrders(DOMAIN_NAMES, { count: args.orders, seed: args.seed }),
    unseen: [...UNSEEN_DOMAIN_NAMES],
    ewc: { lambda: args.ewcLambda, gamma: 1 },
    vae: { epochs: args.vaeEpochs ?? size.vaeEpochs, batchSize: 6, lr: 5e-4 },
    tau: { folds: 5, percentile: 97 },
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  // The run's command: a --report-only rewrite names the run it reports on (and says it was rewritten).
  const runArgs = process.argv.slice(2).filter((a) => a !== '--report-only');
  const command = `npm run bench:continual --${runArgs.length ? ' ' + runArgs.join(' ') : ''}`;
  const backend = await initBackend({
    prefer: (args.backend as 'wasm' | undefined) ?? 'wasm',
    wasmThreads: args.threads ?? undefined,
    log: (l) => process.stderr.write(l + '\n'),
  });
  const model = loadModel(args);
  const { cfg, fingerprint } = model;
  const plan = makePlan(args, cfg);
  const name = runName(plan);
  const outDir = resolve(args.out);
  const hash = planHash(plan, fingerprint);
  // The full run's work folder is its resume point and is committed (resume-point.ts); the embedding cache and
  // the quick run's folder are rebuilt in minutes and stay out of git.
  const scratch = args.work ? resolve(args.work) : join(outDir, '.continual-work');
  const work = join(args.work || plan.quick ? scratch : join(outDir, `${name}-work`), hash.slice(0, 16));
  const cacheDir = join(scratch, 'cache');
  const statePath = join(outDir, `${name}.state.json`);
  mkdirSync(outDir, { recursive: true });
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const state = openState(statePath, plan, hash, args.restart && !args.reportOnly);
  const report = (): void => {
    const results = buildResults({
      state,
      plan,
      cfg,
      command,
      reportOnly: args.reportOnly,
      model: {
        path: args.model,
        fingerprint,
        step: model.meta['step'] ?? null,
        source: model.meta['source'] ?? null,
      },
      backend: backend.summary,
      machine: continualMachine(machineInfo()),
      stepFlops: alTrainingStepFlops(cfg, {
        images: plan.batchImages,
        prompts: plan.batchImages * plan.regionsPerImage,
      }),
    });
    writeReport(outDir, name, results);
    log(
      `wrote ${relative(root, join(outDir, name + '.json'))}, ${name}.md and ${name}-*.png${results.pending.length ? ` (partial: ${results.pending.length} units to go)` : ''}`,
    );
  };
  if (args.reportOnly) {
    if (!state.zeroShot) throw new CliUsageError(`${relative(root, statePath)} holds no results yet`);
    report();
    return 0;
  }
  // --restart discards the old run's weights too: in the committed folder, every other plan's with them.
  if (args.restart) rmSync(args.work || plan.quick ? work : dirname(work), { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const save = (): void => {
    saveState(statePath, state);
    pruneWork(work, state, DOMAIN_NAMES, plan.orders.length);
  };
  save();

  const { signal } = stopOnSignal();

  const seen = [...DOMAIN_NAMES];
  log(
    `continual benchmark (${plan.quick ? 'quick' : 'full'}): ${cfg.name} ${args.model} (${fingerprint.slice(0, 19)}…), ` +
      `${plan.trainImages} train / ${plan.testImages} test images per domain, ${plan.epochs} epochs, ${plan.orders.length} orders; state ${relative(root, statePath)}`,
  );

  // ---- data and embeddings ------------------------------------------------------------------------------
  const sam = buildSam(cfg, model.sd);
  const engine = createTfjsSamEngine(sam);
  const domains = new Map<string, Domain>();
  for (const d of [...seen, ...plan.unseen]) {
    const unseen = plan.unseen.includes(d);
    const items = splitItems(d, { train: unseen ? 0 : plan.trainImages, test: plan.testImages }, plan.data);
    domains.set(d, {
      name: d,
      unseen,
      trainItems: items.train,
      testItems: items.test,
      train: [],
      test: [],
    });
  }
  const all = [...domains.values()].flatMap((d) => [...d.trainItems, ...d.testItems]);
  const t0 = performance.now();
  let computed = 0;
  const handles = await ensureEmbeddings(all, engine, {
    cacheDir,
    fingerprint,
    signal,
    onProgress: (p) => {
      computed = p.computed;
      if (p.done === p.total || p.done % 25 === 0)
        log(
          `  embeddings ${p.done}/${p.total} (${p.cached} cached, ${p.computed} computed)${p.etaS ? `, ~${fmtDuration(p.etaS)} left` : ''}`,
        );
    },
  });
  const byId = new Map(all.map((it, i) => [it.id, { id: it.id, handle: handles[i], masks: it.masks }]));
  const domainOf = new Map<string, string>();
  for (const d of domains.values()) {
    d.train = d.trainItems.map((it) => byId.get(it.id)!);
    d.test = d.testItems.map((it) => byId.get(it.id)!);
    for (const it of [...d.trainItems, ...d.testItems]) domainOf.set(it.id, d.name);
  }
  const embedSeconds = (performance.now() - t0) / 1000;
  const encoderMs = await timeEncoder(sam, plan.quick ? 3 : 5);
  const alStepMs = await timeAlStep(sam, domains.get(seen[0])!.train, plan);
  state.measurements = {
    encoderMsPerImage: encoderMs,
    alStepMs,
    ...(computed > 0 || !state.measurements
      ? { embedSeconds, embeddedImages: computed }
      : { embedSeconds: state.measurements.embedSeconds, embeddedImages: state.measurements.embeddedImages }),
  };
  save();
  log(
    `  encoder: ${encoderMs.toFixed(0)} ms per image, AL training step: ${alStepMs.toFixed(0)} ms (medians); embedding phase ${fmtDuration(embedSeconds)}`,
  );

  // ---- progress plan ------------------------------------------------------------------------------------
  const taskSteps = stepsOf(plan.trainImages, plan);
  const jointSteps = stepsOf(plan.trainImages * seen.length, plan);
  // Per order: CA-SAM's set, sequential and EWC; the decoder-adapter set (paper order).
  const totalSteps = seen.length * taskSteps * (3 * plan.orders.length + 1) + jointSteps;
  const progress = new BenchProgress(totalSteps);
  const decoderTasks = (state.decoderTasks ??= {});
  for (const [t, rec] of Object.entries(decoderTasks))
    if (rec.rank !== DECODER_ADAPTER.rank || rec.alpha !== DECODER_ADAPTER.alpha) {
      delete decoderTasks[t];
      delete state.decoderImages;
    }
  progress.skip((Object.keys(state.casamTasks).length + Object.keys(decoderTasks).length) * taskSteps);
  for (const recs of Object.values(state.stages)) progress.skip(recs.length * taskSteps);
  if (state.joint) progress.skip(jointSteps);

  const alProgress =
    (mem: { sample: () => void }) =>
    (p: {
      kind: string;
      epoch: number;
      epochs: number;
      step: number;
      stepsPerEpoch: number;
      loss: number;
    }): void => {
      mem.sample();
      if (p.kind === 'step')
        progress.step(
          `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)}`,
        );
    };

  /** IoU per task of a shared layer (or frozen) on the test images of `tasks`. */
  async function evaluateTasks(
    align: AlignmentLayer,
    tasks: readonly string[],
  ): Promise<Record<string, number>> {
    const items = tasks.flatMap((t) => domains.get(t)!.test);
    const r = await evaluateBoxPrompts({ sam, items, transforms: { al: align }, boundary: false, signal });
    const per = new Map<string, RegionMetrics[][]>();
    for (const img of r.methods['al'].perImage) {
      const d = domainOf.get(img.id)!;
      if (!per.has(d)) per.set(d, []);
      per.get(d)!.push(img.regions);
    }
    return Object.fromEntries(tasks.map((t) => [t, aggregateMetrics(per.get(t) ?? []).iou]));
  }

  // ---- zero-shot frozen SAM and box-fill on all 12 domains --------------------------------------------------
  if (!state.zeroShot) {
    progress.unit('zero-shot frozen SAM on all domains');
    const items = [...domains.values()].flatMap((d) => d.test);
    const r = await evaluateBoxPrompts({
      sam,
      items,
      transforms: { frozen: IDENTITY_ALIGNMENT },
      boundary: false,
      signal,
      onProgress: (p) => progress.status(`${p.done}/${p.total} images`),
    });
    const rows = (key: string): ImageRegions[] =>
      r.methods[key].perImage.map((img) => ({
        id: img.id,
        domain: domainOf.get(img.id)!,
        regions: img.regions.map((x) => ({ iou: x.iou, dice: x.dice })),
      }));
    state.zeroShot = { frozen: rows('frozen'), boxFill: rows('boxFill') };
    save();
  }

  const parametersOf = (sd: StateDict): number =>
    [...sd.values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);

  /** One CA-SAM task (layer, VAE, τ; with `decoderLora` also a decoder delta): trainTask, the site pipeline. */
  async function trainCasamTask(
    task: string,
    label: string,
    opts: { workDir: string; seed: number; decoderLora?: { rank: number; alpha: number } },
  ): Promise<{ record: CasamTaskRecord; adapter: AdapterFile }> {
    const d = domains.get(task)!;
    const mem = memoryTracker();
    const onAl = alProgress(mem);
    const u0 = performance.now();
    const r = await trainTask({
      taskId: task,
      train: d.trainItems,
      val: d.testItems,
      engine,
      sam,
      baseModel: { preset: cfg.name, fingerprint },
      cacheDir,
      workDir: opts.workDir,
      seed: opts.seed,
      al: {
        epochs: plan.epochs,
        batchImages: plan.batchImages,
        regionsPerImage: plan.regionsPerImage,
        ...(opts.decoderLora ? { decoderLora: opts.decoderLora } : {}),
      },
      vae: plan.vae,
      tau: plan.tau,
      boundaryIou: false,
      createdAt: new Date(0),
      signal,
      onProgress: (p) => {
        if (p.align) onAl(p.align);
        else if (p.status === 'start' && p.phase !== 'embed') progress.status(p.phase, true);
      },
    });
    const adapter = readAdapterFile(new Uint8Array(readFileSync(r.adapterPath)));
    progress.log(
      `  ${label} ${task}: IoU ${r.evaluation.align.iou.toFixed(3)} (frozen ${r.evaluation.frozen.iou.toFixed(3)}, box-fill ${r.evaluation.boxFill.iou.toFixed(3)}), τ ${r.tau.tau.toFixed(4)}`,
    );
    return {
      adapter,
      record: {
        adapterPath: relative(work, r.adapterPath),
        tau: r.tau,
        epochLosses: r.al.epochLosses,
        vaeEpochLosses: r.vaeEpochLosses,
        phaseSeconds: r.phaseSeconds,
        ownIou: r.evaluation.align.iou,
        frozenIou: r.evaluation.frozen.iou,
        alParameters: parametersOf(adapter.align),
        vaeParameters: parametersOf(adapter.vae),
        steps: r.al.timings?.steps ?? 0,
        timings: r.al.timings,
        seconds: (performance.now() - u0) / 1000,
        memory: mem.peak(),
      },
    };
  }

  /**
   * Every test image under every task's layer (and decoder delta, where the adapter has one) and VAE of a set:
   * routing over any task subset is then a lookup.
   */
  async function scoreUnderSet(adapterPaths: readonly string[], label: string): Promise<CasamImage[]> {
    const adapters = adapterPaths.map((p) => readAdapterFile(new Uint8Array(readFileSync(join(work, p)))));
    const aligns = adapters.map((a) =>
      createAlignmentLayer({ channels: cfg.outChans, stateDict: a.align, trainable: false }),
    );
    const vaes = adapters.map((a) =>
      createTaskVae({ inputDim: cfg.outChans, stateDict: a.vae, trainable: false }),
    );
    const deltas = adapters.map((a) =>
      a.metadata.decoderLora && a.decoderLora
        ? createDecoderLora({
            channels: cfg.outChans,
            ...a.metadata.decoderLora,
            stateDict: a.decoderLora,
            trainable: false,
          })
        : undefined,
    );
    try {
      const router = createRouter(
        seen.map((t, i) => {
          const tau = adapters[i].metadata.tau;
          return { taskId: t, vae: vaes[i], tau: tau.tau, tauStats: { mean: tau.mean, std: tau.std } };
        }),
      );
      const items = [...domains.values()].flatMap((d) => d.test);
      const withDeltas = seen.flatMap((t, i) => (deltas[i] ? [[t, deltas[i]] as const] : []));
      const r = await evaluateBoxPrompts({
        sam,
        items,
        transforms: Object.fromEntries(seen.map((t, i) => [t, aligns[i]])),
        ...(withDeltas.length ? { decoderDeltas: Object.fromEntries(withDeltas) } : {}),
        boundary: false,
        signal,
        onProgress: (p) => progress.status(`${label}: ${p.done}/${p.total} images × ${seen.length} tasks`),
      });
      const frozen = new Map(state.zeroShot!.frozen.map((x) => [x.id, x.regions]));
      const g = gridSize(cfg);
      return items.map((it, k): CasamImage => {
        const emb = loadEmbedding(it.handle);
        const x = tf.tensor4d(emb.embeddings.data as Float32Array, [1, cfg.outChans, g, g]);
        let scores;
        try {
          scores = router.route(x).scores;
        } finally {
          x.dispose();
        }
        const regions: Record<string, RegionMetrics[]> = { frozen: frozen.get(it.id)! };
        for (const t of seen) {
          const img = r.methods[t].perImage[k];
          if (img.id !== it.id) throw new Error(`internal: evaluation order changed at ${it.id}`);
          regions[t] = img.regions.map((x2) => ({ iou: x2.iou, dice: x2.dice }));
        }
        const domain = domainOf.get(it.id)!;
        return { id: it.id, domain, unseen: plan.unseen.includes(domain), scores, regions };
      });
    } finally {
      aligns.forEach((a) => a.dispose());
      vaes.forEach((v) => v.dispose());
      deltas.forEach((l) => l?.dispose());
    }
  }

  // ---- CA-SAM: per order, one adapter per task --------------------------------------------------------------
  // Each task's layer, VAE and τ see only that task's data, so the order does not change how they train; each
  // order trains its own set with its own seeds all the same, so that CA-SAM's spread across orders holds the
  // spread of training seeds, as the shared-AL baselines' does (one layer per task: ±0.04 IoU on some domains).
  // Each order's set is scored as soon as it is trained, so its adapters leave the committed work folder before the
  // next set is trained (resume-point.ts): at most one set's adapters at a time.
  for (let o = 0; o < plan.orders.length; o++) {
    for (const task of seen) {
      const key = casamTaskKey(o, task);
      if (state.casamTasks[key]) continue;
      progress.unit(
        `CA-SAM order ${o + 1}/${plan.orders.length} task ${seen.indexOf(task) + 1}/${seen.length} ${task}`,
      );
      const { record } = await trainCasamTask(task, `CA-SAM order ${o + 1}`, {
        // The paper order's set keeps the name-only seeds and folders of the runs before per-order sets.
        workDir: casamTaskDir(work, o, task),
        seed: deriveSeed(plan.seed, 'casam', task, ...(o > 0 ? [o] : [])),
      });
      state.casamTasks[key] = record;
      save();
    }
    // Every test image under every task's layer and VAE of the order (routing over any task subset is then a
    // lookup).
    if (state.casamImages[o]) continue;
    progress.unit(
      `CA-SAM order ${o + 1}/${plan.orders.length}: scoring test images under every layer and VAE`,
    );
    state.casamImages[o] = await scoreUnderSet(
      seen.map((t) => state.casamTasks[casamTaskKey(o, t)].adapterPath),
      `order ${o + 1}`,
    );
    save();
  }

  // ---- CA-SAM + decoder adapter: the paper order's set again, each task with a decoder LoRA delta ----------
  // Same data, seeds and epochs as CA-SAM's paper-order set; only the delta is added, so the two arms differ by
  // it alone (its VAE and τ are this adapter's own, as a site would ship them).
  for (const task of seen) {
    if (decoderTasks[task]) continue;
    progress.unit(`CA-SAM + decoder adapter task ${seen.indexOf(task) + 1}/${seen.length} ${task}`);
    const { record, adapter } = await trainCasamTask(task, 'CA-SAM + decoder adapter', {
      workDir: decoderTaskDir(work, task),
      seed: deriveSeed(plan.seed, 'casam', task),
      decoderLora: { ...DECODER_ADAPTER },
    });
    if (!adapter.decoderLora) throw new Error(`internal: ${task}'s adapter has no decoder delta`);
    const rec: DecoderAdapterTaskRecord = {
      ...record,
      ...DECODER_ADAPTER,
      decoderParameters: parametersOf(adapter.decoderLora),
    };
    decoderTasks[task] = rec;
    delete state.decoderImages;
    save();
  }
  if (!state.decoderImages) {
    progress.unit('CA-SAM + decoder adapter: scoring test images under every layer, delta and VAE');
    state.decoderImages = await scoreUnderSet(
      seen.map((t) => decoderTasks[t].adapterPath),
      'decoder adapter',
    );
    save();
  }

  // ---- shared-AL baselines: sequential fine-tuning and EWC, per order -----------------------------------------
  for (const method of ['sequential', 'ewc'] as const) {
    for (const [o, order] of plan.orders.entries()) {
      const key = `${method}:${o}`;
      const recs: StageRecord[] = (state.stages[key] ??= []);
      let fisher: ParameterMap | null = null;
      let anchor: ParameterMap | null = null;
      let prev: StateDict | undefined;
      // A finished order's stages are all recorded and its weights pruned (resume-point.ts): nothing to load.
      if (recs.length && !orderFinished(recs, order)) {
        const f = readStateDict(join(work, recs[recs.length - 1].weights));
        prev = unprefixed('align.', f);
        if (method === 'ewc') {
          fisher = unprefixed('fisher.', f) as ParameterMap;
          anchor = unprefixed('anchor.', f) as ParameterMap;
        }
      }
      for (let t = recs.length; t < order.length; t++) {
        const task = order[t];
        progress.unit(
          `${method === 'ewc' ? 'EWC' : 'sequential'} order ${o + 1}/${plan.orders.length} stage ${t + 1}/${order.length} ${task}`,
        );
        const mem = memoryTracker();
        const u0 = performance.now();
        const penalty =
          method === 'ewc' && fisher && anchor
            ? createEwcPenalty({ anchor, fisher, lambda: plan.ewc.lambda })
            : undefined;
        let r;
        try {
          r = await trainAlignmentLayer({
            sam,
            items: domains.get(task)!.train,
            epochs: plan.epochs,
            batchImages: plan.batchImages,
            regionsPerImage: plan.regionsPerImage,
            seed: deriveSeed(plan.seed, method, o, t),
            initialStateDict: prev,
            regularizer: penalty,
            checkpoint: { path: join(work, `${method}-o${o}-s${t}.ck.safetensors`) },
            signal,
            onProgress: alProgress(mem),
          });
        } finally {
          penalty?.dispose();
        }
        try {
          const row = await evaluateTasks(r.align, order.slice(0, t + 1));
          const record: StageRecord = {
            task,
            row: order.slice(0, t + 1).map((k) => row[k]),
            epochLosses: r.epochLosses,
            weights: `${method}-o${o}-s${t}.safetensors`,
            steps: r.timings.steps,
            timings: r.timings,
            seconds: 0,
            memory: mem.peak(),
          };
          prev = r.align.stateDict();
          const entries: [string, StateDict][] = [['align.', prev]];
          if (method === 'ewc') {
            const f0 = performance.now();
            progress.status('Fisher information', true);
            const f = await computeFisherDiagonal({
              sam,
              align: r.align,
              items: domains.get(task)!.train,
              regionsPerImage: plan.regionsPerImage,
              seed: deriveSeed(plan.seed, 'fisher', o, t),
              signal,
            });
            fisher = accumulateFisher(fisher, f, plan.ewc.gamma);
            anchor = parameterSnapshot(r.align);
            record.fisherSeconds = (performance.now() - f0) / 1000;
            record.fisherImages = domains.get(task)!.train.length;
            record.fisherMean = fisherMean(fisher);
            entries.push(['fisher.', fisher], ['anchor.', anchor]);
          }
          writeStateDict(join(work, record.weights), entries);
          record.seconds = (performance.now() - u0) / 1000;
          recs.push(record);
          rmSync(join(work, `${method}-o${o}-s${t}.ck.safetensors`), { force: true });
          save();
          progress.log(
            `  ${method} order ${o + 1} stage ${t + 1} ${task}: IoU ${record.row.map((v) => v.toFixed(2)).join(' ')}`,
          );
        } finally {
          r.align.dispose();
        }
      }
    }
  }

  // ---- joint: one shared AL on all tasks' pooled data ---------------------------------------------------------
  if (!state.joint) {
    progress.unit('joint (pooled data)');
    const mem = memoryTracker();
    const u0 = performance.now();
    const r = await trainAlignmentLayer({
      sam,
      items: seen.flatMap((t) => domains.get(t)!.train),
      epochs: plan.epochs,
      batchImages: plan.batchImages,
      regionsPerImage: plan.regionsPerImage,
      seed: deriveSeed(plan.seed, 'joint'),
      checkpoint: { path: join(work, 'joint.ck.safetensors'), everySteps: 10 },
      signal,
      onProgress: alProgress(mem),
    });
    try {
      const iou = await evaluateTasks(r.align, seen);
      writeStateDict(join(work, 'joint.safetensors'), [['align.', r.align.stateDict()]]);
      state.joint = {
        iou,
        epochLosses: r.epochLosses,
        weights: 'joint.safetensors',
        steps: r.timings.steps,
        timings: r.timings,
        seconds: (performance.now() - u0) / 1000,
        memory: mem.peak(),
      };
      save();
      rmSync(join(work, 'joint.ck.safetensors'), { force: true });
    } finally {
      r.align.dispose();
    }
  }
  engine.dispose();
  sam.dispose();

  // ---- results --------------------------------------------------------------------------------------------
  report();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof TrainingAbortedError) {
      console.error(`\nstopped: ${e.message}`);
      process.exit(130);
    }
    if (e instanceof CliUsageError) failUsage(e, USAGE);
    if (e instanceof BenchModelError || e instanceof StateMismatchError) {
      console.error(`error: ${e.message}`);
      process.exit(e instanceof BenchModelError ? 4 : 2);
    }
    if (e instanceof BackendUnavailableError) {
      console.error(`error: ${e.message}`);
      process.exit(5);
    }
    console.error(e);
    process.exit(1);
  },
);
