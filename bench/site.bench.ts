/**
 * `npm run bench:site` — what a site agent costs on this machine. Prints tables and writes bench/results/site.json.
 * ONNX Runtime (the agent's default engine: graphs exported from the same weights by the project's exporter and
 * probed against TF.js, as on first use at a site) and TF.js on wasm run in the same process, interleaved
 * request by request, so a change in the machine's load hits both alike.
 *
 *   imageIo     per-image work outside the model: PNG decoding (8-bit RGB/RGBA rows on the WebAssembly SIMD
 *               kernel vs the plain-JS loops, interleaved; grey PNGs) and prepareImage (resize + normalisation,
 *               colour and grey) at 256, 512 and 1024 px
 *   embedding   images/s through the frozen encoder, as training's embedding phase runs it (preprocess + embed):
 *               casam-tiny on ONNX Runtime and on TF.js wasm, interleaved; sam-mini on TF.js and on the
 *               fixture's ONNX export
 *   training    seconds per Alignment Layer epoch and per VAE epoch from the embedding cache (casam-tiny,
 *               one synthetic domain, the trainer's defaults; embedding and validation on ONNX Runtime as the
 *               agent's `train` does), with the share of AL time in AL vs decoder
 *   segment     the routed segmenter (embed → route → align → decode) with bundles of 0, 1 and 9 tasks on
 *               both engines: p50/p99 of the whole and of each step, the ratio tfjs / ONNX Runtime, and routing
 *               (attention pooling + every task's VAE score) as a share of the encoder's time
 *   routing     where routing's time goes with 9 tasks, on ORT embeddings of the benchmark's images: attention
 *               pooling and the 9 VAE scores, on the fast router's WebAssembly SIMD kernel (the default of both
 *               segmenters), on its plain-JS loops, and the TF.js router; each as a share of the encoder's p50
 *               on ONNX Runtime and on TF.js (from the 9-task segment rows)
 *   serve       HTTP p50/p99 of POST /v1/segment with a 256-px PNG and a 9-task bundle: the agent's
 *               SegmentationServer in this process on loopback, on each engine (bench/site-serve.ts), then ONNX
 *               Runtime alone from three clients, and a 512² grey PNG
 *   defaultModel  the embedded default (casam-small) the same way: export + probe, 9-task segment rows on both
 *               engines, serve alone
 *   memory      peak RSS (VmHWM) of this process
 *
 * Weights: the shipped casam-tiny (the graphs' timings do not depend on the values; the answer's mask PNG does),
 * the shipped default for defaultModel, and the sam-mini fixture; the task adapters are random. The
 * numbers are from a shared 2-core machine; another long job (pretraining) may run beside it: the load average
 * is recorded at the start and at the end of each section.
 *
 * Flags: --quick (fewer images and repetitions), --help.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PNG } from 'pngjs';
import { join, resolve } from 'node:path';
import {
  buildSam,
  createFastRouter,
  createOnnxRoutedSegmenter,
  createOnnxSamEngine,
  createRoutedSegmenter,
  createRouter,
  createTfjsSamEngine,
  decodeImage,
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
  encodeRgbPng,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  getPreset,
  initBackend,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  type LoadedAdapter,
  loadSamWeights,
  prepareImage,
  type RgbImage,
  type RoutedSegmenter,
  type SamEngine,
  stateDictFingerprint,
  tf,
  trainTask,
  type TrainingItem,
  writeAdapterFile,
} from '@casam/casam-core';
import { generateDomain, LoadCheckpoints, machineInfo, machineSummary, parseCliArgs } from '@casam/casam-lab';
import { FIXTURES_DIR } from '@casam/casam-core/testing';
import { SERVER_TIMING_STEPS } from '@casam/site-agent/testing';
import {
  startServe,
  type TimedRequest,
  timeRequest,
  timeRequestNodeHttp,
  timeRequestsFromChild,
  timeRequestsInProcess,
} from './site-serve';

const USAGE = `usage: npm run bench:site -- [options]
  --quick      fewer images and repetitions
  --help, -h   print this text`;
const QUICK = parseCliArgs(USAGE, { quick: { type: 'boolean', default: false } }).quick;
const log = (s: string) => process.stderr.write(`${s}\n`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const peakRssMiB = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;

function domainImages(domain: string, count: number, size: number, seed: number): TrainingItem[] {
  return generateDomain(domain, { count, size, seed }).map((it) => ({
    id: it.id,
    image: it.image,
    masks: it.masks.map((m) => ({ classId: m.className, mask: Uint8Array.from(m.data) })),
  }));
}

/** An 8-bit greyscale PNG (colour type 0) of the image's red channel, as a CT or MR slice is exported. */
function greyPng(img: RgbImage): Uint8Array {
  const png = new PNG({
    width: img.width,
    height: img.height,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(Uint8Array.from({ length: img.width * img.height }, (_, i) => img.data[3 * i]));
  return new Uint8Array(PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

const prepOf = (engine: SamEngine) => (img: RgbImage) =>
  prepareImage(img.data, img.height, img.width, engine.config).preprocessed;

/** images/s of each engine on the same images, interleaved image by image (order alternating). */
async function embedRates(runs: { engine: SamEngine; label: string; weights: string }[], images: RgbImage[]) {
  for (const r of runs) for (const img of images.slice(0, 2)) await r.engine.embed(prepOf(r.engine)(img)); // warm-up
  const ms = runs.map(() => 0);
  for (let i = 0; i < images.length; i++)
    for (let k = 0; k < runs.length; k++) {
      const j = i % 2 ? runs.length - 1 - k : k;
      const t0 = performance.now();
      await runs[j].engine.embed(prepOf(runs[j].engine)(images[i]));
      ms[j] += performance.now() - t0;
    }
  return runs.map((r, j) => {
    log(`  ${r.label} ${r.engine.config.name}: ${round((1000 * images.length) / ms[j], 2)} images/s`);
    return {
      model: r.engine.config.name,
      engine: r.label,
      weights: r.weights,
      images: images.length,
      imagesPerSecond: round((1000 * images.length) / ms[j], 2),
      msPerImage: round(ms[j] / images.length, 1),
    };
  });
}

function adapterFor(taskId: string, seed: number, tau: number): Uint8Array {
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: `sha256:${'ab'.repeat(32)}` },
    tau: { tau, p95: tau, p99: tau, mean: tau / 2, std: 1, n: 10, percentile: 97 },
    align: initialAlignmentStateDict(64, seed),
    vae: initialTaskVaeStateDict(64, seed),
  });
}

/**
 * p50 of the route step (pooling + 9 VAE scores) and of the 9 VAE scores alone (routeFeature on a pooled-size
 * feature) per implementation, on `images`' ONNX Runtime embeddings, implementations interleaved pass by pass.
 * The TF.js router takes a tensor already made (as the TF.js segmenter did before it used the fast router).
 */
async function measureRouting(
  engine: SamEngine,
  images: RgbImage[],
  bundleOf: (tasks: number) => LoadedAdapter[],
  passes: number,
) {
  const embeddings: Awaited<ReturnType<SamEngine['embed']>>[] = [];
  for (const img of images) embeddings.push(await engine.embed(prepOf(engine)(img)));
  const [, c, h, w] = embeddings[0].shape;
  // A feature of the right width for the scores alone: the plain mean over positions (timing does not depend
  // on which feature it is).
  const features = embeddings.map((e) => {
    const z = e.data as Float32Array;
    const f = new Float32Array(c);
    for (let ch = 0; ch < c; ch++) {
      let acc = 0;
      for (let p = 0; p < h * w; p++) acc += z[ch * h * w + p];
      f[ch] = acc / (h * w);
    }
    return f;
  });
  const adapters = bundleOf(9);
  const tasks = adapters.map((a) => ({ taskId: a.taskId, vae: a.vae, tau: a.tau }));
  const fast = (['wasm-simd', 'js'] as const).map((kernel) => ({
    kernel,
    router: createFastRouter(tasks, { kernel }),
  }));
  const tfRouter = createRouter(tasks);
  const tensors = embeddings.map((e) =>
    tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]),
  );
  const runs = [
    ...fast.map(({ kernel, router }) => ({
      name: `fast router (${kernel})`,
      route: (i: number) => router.route(embeddings[i]),
      scores: (i: number) => router.routeFeature(features[i]),
    })),
    { name: 'TF.js router', route: (i: number) => tfRouter.route(tensors[i]), scores: null },
  ];
  const ms = runs.map(() => ({ route: [] as number[], scores: [] as number[] }));
  for (let pass = -5; pass < passes; pass++)
    for (let k = 0; k < runs.length; k++) {
      const j = pass % 2 ? runs.length - 1 - k : k;
      const i = (pass + 5) % embeddings.length;
      let t0 = performance.now();
      runs[j].route(i);
      const route = performance.now() - t0;
      t0 = performance.now();
      runs[j].scores?.(i);
      const scores = performance.now() - t0;
      if (pass < 0) continue; // warm-up
      ms[j].route.push(route);
      if (runs[j].scores) ms[j].scores.push(scores);
    }
  for (const t of tensors) t.dispose();
  for (const a of adapters) {
    a.align.dispose();
    a.vae.dispose();
  }
  const us = (x: number) => round(x, 3);
  return runs.map((r, j) => {
    const route = pct(ms[j].route, 50);
    const scores = r.scores ? pct(ms[j].scores, 50) : null;
    return {
      implementation: r.name,
      tasks: 9,
      embedding: `[${embeddings[0].shape.join(',')}]`,
      poolingMsP50: scores === null ? null : us(Math.max(0, route - scores)),
      vaeScoresMsP50: scores === null ? null : us(scores),
      routeMsP50: us(route),
      routeMsP99: us(pct(ms[j].route, 99)),
    };
  });
}

/**
 * The site's per-image work outside the model, side by side: PNG decoding with 8-bit RGB/RGBA rows unfiltered on
 * the WebAssembly SIMD kernel vs the plain-JS loops (interleaved), and prepareImage (resize to the model input +
 * normalisation) for a colour and a grey image of the same size.
 */
function imageIoRows(reps: number) {
  const cfg = getPreset('casam-tiny');
  const rows: Record<string, string | number>[] = [];
  for (const size of [256, 512, 1024]) {
    const img = domainImages('polyp-endoscopy', 1, size, 5)[0].image;
    const png = encodeRgbPng(img); // RGBA, every row Paeth (pngjs's choice for photos)
    const grey = greyPng(img);
    const kinds = [
      { name: `${size}² RGBA PNG`, file: png },
      { name: `${size}² grey PNG`, file: grey },
    ];
    for (const k of kinds) {
      const js: number[] = [];
      const simd: number[] = [];
      for (let i = 0; i < reps + 2; i++)
        for (const mode of i % 2 ? (['js', 'auto'] as const) : (['auto', 'js'] as const)) {
          const t = performance.now();
          decodeImage(k.file, k.name, { pngUnfilter: mode });
          if (i >= 2) (mode === 'js' ? js : simd).push(performance.now() - t);
        }
      rows.push({
        step: 'decode PNG',
        image: `${k.name} (${k.file.length} bytes)`,
        plainJsMsP50: round(pct(js, 50), 2),
        simdKernelMsP50: round(pct(simd, 50), 2),
        ratio: round(pct(js, 50) / pct(simd, 50), 2),
      });
    }
    const greyRgb = decodeImage(grey);
    for (const [name, im] of [
      [`${size}² colour`, img],
      [`${size}² grey`, greyRgb],
    ] as const) {
      const ms: number[] = [];
      for (let i = 0; i < reps + 2; i++) {
        const t = performance.now();
        prepareImage(im.data, im.height, im.width, cfg);
        if (i >= 2) ms.push(performance.now() - t);
      }
      rows.push({ step: `prepareImage → ${cfg.imgSize}²`, image: name, msP50: round(pct(ms, 50), 2) });
    }
  }
  return rows;
}

/**
 * Each routed segmenter on the same images with the same box, interleaved request by request (the order
 * alternating), after two warm-up rounds; one row per segmenter: total and per-step p50/p99 (ms), and routing as a
 * share of the encoder's time (medians). Disposes the segmenters.
 */
async function segmentRows<K extends Record<string, string | number>>(
  engines: { label: string; seg: RoutedSegmenter }[],
  images: RgbImage[],
  reps: number,
  key: K,
) {
  const steps = ['embedMs', 'routeMs', 'alignMs', 'decodeMs'] as const;
  const samples = engines.map(() => ({
    totalMs: [] as number[],
    embedMs: [] as number[],
    routeMs: [] as number[],
    alignMs: [] as number[],
    decodeMs: [] as number[],
  }));
  for (let i = 0; i < reps + 2; i++)
    for (let k = 0; k < engines.length; k++) {
      const j = i % 2 ? engines.length - 1 - k : k;
      const t1 = performance.now();
      const r = await engines[j].seg.segment(images[i % images.length], { box: [40, 40, 200, 200] });
      const ms = performance.now() - t1;
      if (i < 2) continue; // warm-up
      samples[j].totalMs.push(ms);
      for (const step of steps) samples[j][step].push(r.timings[step]);
    }
  for (const e of engines) e.seg.dispose();
  return engines.map((e, j) => {
    const x = samples[j];
    const p = (xs: number[], q: number) => round(pct(xs, q), 2);
    return {
      ...key,
      engine: e.label,
      p50Ms: round(pct(x.totalMs, 50), 1),
      p99Ms: round(pct(x.totalMs, 99), 1),
      embedMsP50: p(x.embedMs, 50),
      embedMsP99: p(x.embedMs, 99),
      routeMsP50: p(x.routeMs, 50),
      routeMsP99: p(x.routeMs, 99),
      alignMsP50: p(x.alignMs, 50),
      alignMsP99: p(x.alignMs, 99),
      decodeMsP50: p(x.decodeMs, 50),
      decodeMsP99: p(x.decodeMs, 99),
      // Routing (attention pooling + every task's VAE score) as a share of the encoder's time, medians.
      routingPctOfEncoder: round((100 * pct(x.routeMs, 50)) / pct(x.embedMs, 50), 2),
    };
  });
}

/**
 * One serve row: client wall time p50/p99, the server's own total (its Server-Timing header), what the client's
 * wall time adds to it, and the p50 of each Server-Timing step and of the time between them no step accounts for.
 */
function serveRow(label: string, client: string, image: string, ms: TimedRequest[], interleaved: boolean) {
  const p = (xs: number[], q: number, d: number) => round(pct(xs, q), d);
  return {
    engine: label,
    client,
    image,
    bundleTasks: 9,
    interleaved,
    requests: ms.length,
    p50Ms: p(
      ms.map((t) => t.ms),
      50,
      1,
    ),
    p99Ms: p(
      ms.map((t) => t.ms),
      99,
      1,
    ),
    serverP50Ms: p(
      ms.map((t) => t.server.total),
      50,
      1,
    ),
    outsideServerP50Ms: p(
      ms.map((t) => t.ms - t.server.total),
      50,
      2,
    ),
    serverStepsP50Ms: Object.fromEntries(
      [...SERVER_TIMING_STEPS, 'unaccounted'].map((s) => [
        s,
        p(
          ms.map((t) =>
            s === 'unaccounted'
              ? t.server.total - SERVER_TIMING_STEPS.reduce((a, x) => a + (t.server[x] ?? 0), 0)
              : (t.server[s] ?? 0),
          ),
          50,
          2,
        ),
      ]),
    ),
  };
}

/**
 * The embedded default (casam-small: casam-tiny's ViT on 8-px patches, a 32×32 grid) as a site runs it: exported
 * and probed on first use, then the routed segmenter with 9 tasks on each engine (interleaved), and `serve` alone
 * on ONNX Runtime from the node:http client. The casam-tiny rows are the preset issue 18's targets were set for;
 * these say what a hospital on the default gets.
 */
async function defaultModelRows(
  images: RgbImage[],
  png: Uint8Array,
  work: string,
  reps: number,
  serveReps: number,
  tfjsLabel: string,
) {
  const cfg = getPreset(DEFAULT_PRESET);
  const sd = loadSamWeights(resolve(__dirname, '..', DEFAULT_MODEL_FILE), cfg);
  const tfjs = createTfjsSamEngine(buildSam(cfg, sd));
  const cacheRoot = join(work, 'onnx-cache-default');
  const t0 = performance.now();
  const exp = await ensureOnnxBaseExport({
    cacheRoot,
    config: cfg,
    modelFingerprint: stateDictFingerprint(sd),
    stateDict: () => sd,
    reference: () => tfjs,
    log,
  });
  const exportAndProbeMs = round(performance.now() - t0, 0);
  const ortEngine = await createOnnxSamEngine({
    config: cfg,
    encoderPath: exp.encoderPath,
    decoderPath: exp.decoderPath,
  });
  const c = cfg.promptEmbedDim;
  const bundle = () =>
    Array.from({ length: 9 }, (_, i) =>
      loadAdapter(
        writeAdapterFile({
          taskId: `task-${i}`,
          baseModel: { preset: cfg.name, fingerprint: `sha256:${'ab'.repeat(32)}` },
          tau: { tau: 1e9, p95: 1e9, p99: 1e9, mean: 5e8, std: 1, n: 10, percentile: 97 },
          align: initialAlignmentStateDict(c, i + 1),
          vae: initialTaskVaeStateDict(c, i + 1),
        }),
        c,
      ),
    );
  const onOrt = async (adapters: LoadedAdapter[]) =>
    createOnnxRoutedSegmenter({
      config: cfg,
      engine: ortEngine,
      alignmentLayerFiles: await ensureOnnxAlignmentLayers(cacheRoot, cfg, adapters),
      adapters,
    });
  const ortLabel = 'onnxruntime-cpu';
  const engines = [
    { label: ortLabel, seg: await onOrt(bundle()) },
    { label: tfjsLabel, seg: await createRoutedSegmenter(tfjs, bundle()) },
  ];
  const segment = await segmentRows(engines, images, reps, { model: cfg.name, bundleTasks: 9 });
  const server = await startServe(
    { label: ortLabel, engine: ortEngine, createSegmenter: onOrt, adapters: bundle },
    work,
  );
  const served = await timeRequestsInProcess(timeRequestNodeHttp, server, png, '40,40,200,200', serveReps);
  await server.close();
  ortEngine.dispose();
  tfjs.dispose();
  return {
    preset: cfg.name,
    weights: DEFAULT_MODEL_FILE,
    exportAndProbeMs,
    encoderMiB: round(exp.manifest.encoder.bytes / 2 ** 20, 2),
    segment,
    tfjsOverOrtP50: round(segment[1].p50Ms / segment[0].p50Ms, 2),
    tfjsOverOrtP99: round(segment[1].p99Ms / segment[0].p99Ms, 2),
    serve: serveRow(
      `${ortLabel} (alone)`,
      'node:http keep-alive, in-process',
      `${images[0].width}×${images[0].height} PNG (${png.length} bytes)`,
      served,
      false,
    ),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  log(`bench:site${QUICK ? ' --quick' : ''} on ${machineSummary()}`);
  const load = new LoadCheckpoints();
  const info = await initBackend({ prefer: 'wasm', log });
  const tiny = getPreset('casam-tiny');
  // The shipped casam-tiny weights: the graphs' timings do not depend on weight values, but the answer's mask
  // PNG does (random weights give noise masks: the response step took 0.8–0.9 ms with them, 0.55–0.6 with these).
  const tinySd = loadSamWeights(resolve(__dirname, '../models/casam-tiny/casam-tiny.safetensors'), tiny);
  const tinyFp = stateDictFingerprint(tinySd);
  const sam = buildSam(tiny, tinySd);
  const engine = createTfjsSamEngine(sam);
  const tfjsLabel = `tfjs-${info.name}`;
  const nImages = QUICK ? 8 : 40;
  const images = domainImages('msd-spleen-ct', nImages, 256, 1).map((i) => i.image);
  const work = mkdtempSync(join(tmpdir(), 'casam-bench-site-'));
  const cacheRoot = join(work, 'onnx-cache');

  log('image decoding and preparation…');
  const imageIo = imageIoRows(QUICK ? 10 : 60);
  console.log('\nper-image work outside the model (p50 ms; decoders interleaved)');
  console.table(imageIo);

  // The ONNX export, as a site makes it on first use (or export-onnx / the offline pack ahead of time).
  log('exporting casam-tiny to ONNX and probing it against TF.js…');
  const t0 = performance.now();
  const exp = await ensureOnnxBaseExport({
    cacheRoot,
    config: tiny,
    modelFingerprint: tinyFp,
    stateDict: () => tinySd,
    reference: () => engine,
    log,
  });
  const onnxExport = {
    preset: 'casam-tiny',
    exportMs: round(exp.exportMs, 0),
    probeMs: round(exp.probe.ms, 0),
    totalMs: round(performance.now() - t0, 0),
    encoderMiB: round(exp.manifest.encoder.bytes / 2 ** 20, 2),
    decoderMiB: round(exp.manifest.decoder.bytes / 2 ** 20, 2),
    probeMaxAbsDiff: Object.fromEntries(exp.probe.comparisons.map((c) => [c.name, c.maxAbsDiff])),
  };
  const ort = await createOnnxSamEngine({
    config: tiny,
    encoderPath: exp.encoderPath,
    decoderPath: exp.decoderPath,
  });
  const ortLabel = 'onnxruntime-cpu';

  // Embedding throughput per engine.
  log('embedding…');
  const embedding = await embedRates(
    [
      { engine: ort, label: ortLabel, weights: 'casam-tiny (TS export)' },
      { engine, label: tfjsLabel, weights: 'casam-tiny' },
    ],
    images,
  );
  const fx = FIXTURES_DIR;
  const miniCkpt = join(fx, 'sam-mini/sam-mini.pth');
  if (existsSync(miniCkpt)) {
    const mini = getPreset('sam-mini');
    const miniEngine = createTfjsSamEngine(buildSam(mini, loadSamWeights(miniCkpt, mini)));
    const runs = [{ engine: miniEngine as SamEngine, label: tfjsLabel, weights: 'sam-mini fixture' }];
    const enc = join(fx, 'onnx/sam-mini-encoder.onnx');
    const dec = join(fx, 'onnx/sam-mini-decoder.onnx');
    if (existsSync(enc)) {
      const miniOrt = await createOnnxSamEngine({ config: mini, encoderPath: enc, decoderPath: dec });
      runs.unshift({ engine: miniOrt, label: ortLabel, weights: 'sam-mini fixture export' });
    }
    embedding.push(...(await embedRates(runs, images)));
    for (const r of runs) r.engine.dispose();
  }
  const ortEmbed = embedding[0].imagesPerSecond;
  const tfjsEmbed = embedding[1].imagesPerSecond;
  load.mark('afterEmbedding');
  console.log('\nEmbedding (frozen encoder, preprocess + embed as training does; engines interleaved)');
  console.table(embedding);
  console.log(`casam-tiny: ONNX Runtime ${round(ortEmbed / tfjsEmbed, 2)}× the images/s of ${tfjsLabel}`);

  // Training from the cache, embedding and validation on ONNX Runtime as `site-agent train` does.
  log('training (1 task, from the embedding cache)…');
  let training: Record<string, unknown>;
  {
    const all = domainImages('polyp-endoscopy', QUICK ? 12 : 30, 256, 2);
    const nTrain = Math.floor(all.length * 0.75);
    const epochs = QUICK ? 1 : 3;
    const r = await trainTask({
      taskId: 'bench',
      train: all.slice(0, nTrain),
      val: all.slice(nTrain),
      engine: ort,
      sam,
      baseModel: { preset: 'casam-tiny', fingerprint: tinyFp },
      cacheDir: join(work, 'cache'),
      workDir: join(work, 'task'),
      al: { epochs },
      vae: { epochs: QUICK ? 5 : 20 },
      seed: 1,
    });
    const t = r.al.timings!;
    training = {
      preset: 'casam-tiny',
      inferenceEngine: ortLabel,
      trainImages: nTrain,
      valImages: all.length - nTrain,
      alEpochs: epochs,
      alSecondsPerEpoch: round(t.secondsPerEpoch.reduce((a, b) => a + b, 0) / t.secondsPerEpoch.length, 2),
      alStepShare: Object.fromEntries(Object.entries(t.share).map(([k, v]) => [k, round(v, 3)])),
      vaeEpochs: r.vaeEpochLosses.length,
      vaeSecondsPerEpoch: round(r.phaseSeconds.vae / Math.max(1, r.vaeEpochLosses.length), 3),
      embedSeconds: round(r.phaseSeconds.embed, 2),
      phaseSeconds: Object.fromEntries(Object.entries(r.phaseSeconds).map(([k, v]) => [k, round(v, 2)])),
    };
  }
  load.mark('afterTraining');
  console.log('\nTraining from the cache (casam-tiny; gradients on TF.js wasm, embedding on ONNX Runtime)');
  console.table([training]);

  // The routed segmenter on both engines, interleaved request by request.
  const onOrt = async (adapters: LoadedAdapter[], base = ort, spinning?: boolean, alignThreads?: number) =>
    createOnnxRoutedSegmenter({
      config: tiny,
      engine: base,
      alignmentLayerFiles: await ensureOnnxAlignmentLayers(cacheRoot, tiny, adapters),
      adapters,
      spinning,
      alignThreads,
    });
  // ONNX Runtime's own default (intra-op threads spin between runs), beside the agent's (no spinning), with 9 tasks.
  const ortSpinning = await createOnnxSamEngine({
    config: tiny,
    encoderPath: exp.encoderPath,
    decoderPath: exp.decoderPath,
    spinning: true,
  });
  const spinLabel = `${ortLabel} (threads spin)`;
  // The agent runs the Alignment Layer on every core (the decoder on one); this row runs it on one thread.
  const alignOneLabel = `${ortLabel} (Alignment Layer on 1 thread)`;
  const onTfjs = async (adapters: LoadedAdapter[]) => createRoutedSegmenter(engine, adapters);
  const bundleOf = (tasks: number) =>
    Array.from({ length: tasks }, (_, i) => loadAdapter(adapterFor(`task-${i}`, i + 1, 1e9), 64));
  const segment: Record<string, string | number>[] = [];
  const segmentRatios = [];
  // 100 requests per engine and bundle: with 40, p99 was the second-worst request and its tfjs / ORT ratio
  // moved between 2.0× and 5.4× from run to run on the same code.
  const reps = QUICK ? 10 : 100;
  for (const tasks of [0, 1, 9]) {
    log(`segment with ${tasks} task(s)…`);
    const engines = [
      { label: ortLabel, seg: await onOrt(bundleOf(tasks)) },
      { label: tfjsLabel, seg: await onTfjs(bundleOf(tasks)) },
      ...(tasks === 9
        ? [
            { label: spinLabel, seg: await onOrt(bundleOf(tasks), ortSpinning, true) },
            { label: alignOneLabel, seg: await onOrt(bundleOf(tasks), ort, undefined, 1) },
          ]
        : []),
    ];
    const rows = await segmentRows(engines, images, reps, { bundleTasks: tasks });
    segment.push(...rows);
    segmentRatios.push({
      bundleTasks: tasks,
      tfjsOverOrtP50: round(rows[1].p50Ms / rows[0].p50Ms, 2),
      tfjsOverOrtP99: round(rows[1].p99Ms / rows[0].p99Ms, 2),
    });
  }
  load.mark('afterSegment');
  console.log(
    `\nsegment latency (routed segmenter, casam-tiny; ${reps} images per engine, interleaved; 0 tasks = frozen SAM)`,
  );
  console.table(segment);
  console.table(segmentRatios);

  // Routing alone, 9 tasks: pooling vs VAE scores per implementation, as a share of each engine's encoder time.
  log('routing (9 tasks)…');
  const routing = await measureRouting(ort, images.slice(0, 8), bundleOf, QUICK ? 50 : 300);
  const encoderP50 = (label: string) =>
    Number(segment.find((r) => r.engine === label && r.bundleTasks === 9)!.embedMsP50);
  const routingRows = routing.map((r) => ({
    ...r,
    pctOfOrtEncoder: round((100 * r.routeMsP50) / encoderP50(ortLabel), 2),
    pctOfTfjsEncoder: round((100 * r.routeMsP50) / encoderP50(tfjsLabel), 2),
  }));
  load.mark('afterRouting');
  console.log(
    `\nrouting with 9 tasks (pooling + every VAE score; ms p50 over ${QUICK ? 50 : 300} passes of 8 embeddings), ` +
      `as % of the encoder's p50 in the 9-task segment rows (${ortLabel} ${encoderP50(ortLabel)} ms, ` +
      `${tfjsLabel} ${encoderP50(tfjsLabel)} ms)`,
  );
  console.table(routingRows);

  // serve over HTTP: 256-px PNG, a 9-task bundle, each engine's server in turn per request.
  log('serve over HTTP (9 tasks)…');
  const png = encodeRgbPng(images[0]);
  const servers = [
    await startServe(
      { label: ortLabel, engine: ort, createSegmenter: onOrt, adapters: () => bundleOf(9) },
      work,
    ),
    await startServe(
      { label: tfjsLabel, engine, createSegmenter: onTfjs, adapters: () => bundleOf(9) },
      work,
    ),
  ];
  const serveMs = servers.map(() => [] as TimedRequest[]);
  const serveReps = QUICK ? 20 : 120;
  for (let i = 0; i < serveReps + 3; i++)
    for (let k = 0; k < servers.length; k++) {
      const j = i % 2 ? servers.length - 1 - k : k;
      const t = await timeRequest(servers[j], png, '40,40,200,200');
      if (i >= 3) serveMs[j].push(t);
    }
  // Then the ONNX Runtime server alone, as a site runs it (TF.js idle): no other engine's threads beside it. Three
  // clients in alternating blocks: fetch() in this process (as before), node:http with a keep-alive agent in this
  // process, and the same node:http client in a child process (a hospital application is another process).
  const box = '40,40,200,200';
  const clients = [
    {
      name: 'fetch, in-process',
      run: (n: number) => timeRequestsInProcess(timeRequest, servers[0], png, box, n),
    },
    {
      name: 'node:http keep-alive, in-process',
      run: (n: number) => timeRequestsInProcess(timeRequestNodeHttp, servers[0], png, box, n),
    },
    {
      name: 'node:http keep-alive, child process',
      run: async (n: number) => (await timeRequestsFromChild(servers[0], png, box, n + 1)).slice(1),
    },
  ];
  const aloneMs = clients.map(() => [] as TimedRequest[]);
  const blocks = 4;
  for (let b = 0; b < blocks; b++)
    for (let k = 0; k < clients.length; k++) {
      const j = b % 2 ? clients.length - 1 - k : k;
      aloneMs[j].push(...(await clients[j].run(Math.ceil(serveReps / blocks))));
    }
  // A 512² 8-bit grey PNG, the common export of a CT or MR slice: decoded, resized to the 256-px input as one
  // plane (prepareImage), answered at 512². Same server and client (node:http in this process), after the blocks.
  const grey512 = domainImages('msd-spleen-ct', 1, 512, 3)[0].image;
  const png512 = greyPng(grey512);
  const box512 = '80,80,400,400';
  const grey512Ms = await timeRequestsInProcess(timeRequestNodeHttp, servers[0], png512, box512, serveReps);
  for (const sv of servers) await sv.close();
  const imageLabel = `${images[0].width}×${images[0].height} PNG (${png.length} bytes)`;
  const serve = [
    ...servers.map((sv, j) => serveRow(sv.label, clients[0].name, imageLabel, serveMs[j], true)),
    ...clients.map((c, j) => serveRow(`${ortLabel} (alone)`, c.name, imageLabel, aloneMs[j], false)),
    serveRow(
      `${ortLabel} (alone)`,
      clients[1].name,
      `512×512 grey PNG (${png512.length} bytes)`,
      grey512Ms,
      false,
    ),
  ];
  load.mark('afterServe');
  console.log('\nserve: POST /v1/segment over HTTP (engines interleaved, then ONNX Runtime alone)');
  console.table(serve.map(({ serverStepsP50Ms: _steps, ...row }) => row));
  console.log('serve: where the server spent its time, p50 ms of each Server-Timing step');
  console.table(serve.map((r) => ({ engine: r.engine, client: r.client, ...r.serverStepsP50Ms })));
  // The embedded default model, the same way (fewer repetitions: its TF.js encoder takes ~100 ms).
  log(`the embedded default (${DEFAULT_PRESET}): export, segment, serve…`);
  const defaultModel = await defaultModelRows(images, png, work, QUICK ? 6 : 40, serveReps, tfjsLabel);
  load.mark('afterDefaultModel');
  console.log(
    `\nthe embedded default ${defaultModel.preset} (9 tasks; export + probe ${defaultModel.exportAndProbeMs} ms, ` +
      `encoder ${defaultModel.encoderMiB} MiB)`,
  );
  console.table(defaultModel.segment);
  const { serverStepsP50Ms: defaultSteps, ...defaultServe } = defaultModel.serve;
  console.table([defaultServe]);
  console.table([defaultSteps]);
  rmSync(work, { recursive: true, force: true });
  ort.dispose();
  ortSpinning.dispose();

  const peak = round(peakRssMiB(), 0);
  console.log(`\npeak RSS (VmHWM) of this process: ${peak} MiB`);

  const result = {
    benchmark: 'site',
    quick: QUICK,
    date: new Date().toISOString(),
    machine: machineInfo({ load, backend: info.name }),
    notes: [
      "The shipped casam-tiny weights (models/casam-tiny; graph timings do not depend on weight values, the answer's mask PNG does: random weights give noise masks) and the sam-mini fixture. Adapters are random.",
      'casam-tiny on ONNX Runtime runs the graphs exported by the project (probed against TF.js); sam-mini on ' +
        "ONNX Runtime runs the fixture's export.",
      'ONNX Runtime and TF.js run in the same process, interleaved request by request (alternating order).',
      'routingPctOfEncoder: median route step (attention pooling + every VAE score) / median embed step.',
      'routing: the route step alone on 8 ORT embeddings (interleaved implementations); pooling = route − scores ' +
        "(medians); the share is of the 9-task segment rows' encoder p50 on each engine. Both segmenters route on " +
        "the fast router's WebAssembly SIMD kernel; 'js' and the TF.js router are shown for comparison.",
      'serve: the SegmentationServer in this process on loopback (not a separate site-agent serve process); ' +
        'the 9-task bundle is held in memory instead of verified from disk (done only at start and on a swap). ' +
        "The 'alone' rows are the ONNX Runtime server after the interleaved rounds, with TF.js idle, as a site runs it, " +
        'from three clients in alternating blocks: fetch() and node:http (keep-alive) in this process, and node:http ' +
        'from a child process (closest to a hospital application, a separate process). serverP50Ms and ' +
        "serverStepsP50Ms are the answers' Server-Timing header; outsideServerP50Ms = client wall time − server total.",
      "segment '(threads spin)': ONNX Runtime's default session setting (intra-op threads spin between runs) beside " +
        "the agent's (no spinning; libs/casam-core/src/onnx/session-options.ts), 9 tasks, interleaved.",
      "serve '512×512 grey PNG': an 8-bit greyscale PNG of a 512² synthetic CT slice (as a CT or MR slice is " +
        'exported), box 80,80,400,400, node:http in this process, after the blocks: decoded, resized to the 256-px ' +
        'input as one grey plane, answered as a 512² mask.',
      `defaultModel: the embedded default (${DEFAULT_PRESET}, its shipped weights) as a site runs it, after the ` +
        'casam-tiny rows: export + probe on first use, the routed segmenter with 9 random adapters on each engine ' +
        '(interleaved, fewer repetitions), serve alone on ONNX Runtime from node:http with the same 256-px PNG.',
      'imageIo: decodeImage per PNG with 8-bit RGB/RGBA rows unfiltered on the WebAssembly SIMD kernel (the default) ' +
        "or on the plain-JS loops ({ pngUnfilter: 'js' }), interleaved; grey PNGs take the JS loops either way. " +
        'prepareImage: resize to the input size + normalisation, a colour and a grey (R = G = B) image.',
      "segment '(Alignment Layer on 1 thread)': the Alignment Layer sessions on one intra-op thread (the agent's " +
        'before 2026-12-07 afternoon) beside all cores (the default since), 9 tasks, interleaved.',
      'Shared 2-core machine; another long job (pretraining) may run at the same time: see machine.loadavg.',
    ],
    imageIo,
    onnxExport,
    embedding,
    training,
    segment,
    segmentRatios,
    routing: routingRows,
    serve,
    defaultModel,
    peakRssMiB: peak,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const outDir = resolve(__dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, QUICK ? 'site.quick.json' : 'site.json');
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${out} (${result.seconds} s)`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
