/**
 * `npm run bench:site` — what a site agent costs on this machine. Prints tables and writes bench/results/site.json.
 *
 *   embedding   images/s through the frozen encoder for each engine available here: TF.js on wasm (casam-tiny
 *               and sam-mini), ONNX Runtime CPU (sam-mini: the only ONNX export on these machines is the
 *               fixture's; casam-tiny has no ONNX export yet)
 *   training    seconds per Alignment Layer epoch and per VAE epoch from the embedding cache (casam-tiny,
 *               one synthetic domain, the trainer's defaults), with the share of AL time in AL vs decoder
 *   segment     end-to-end `segment` latency p50/p99 through the routed segmenter (embed → route → align →
 *               decode) with a bundle of 1 task and of 9 tasks, broken into steps, so the routing overhead stands
 *               next to the encoder's time
 *   memory      peak RSS (VmHWM) of this process
 *
 * Weights are random (casam-tiny) or the sam-mini fixture: timings do not depend on the values. The
 * numbers are from a shared 2-core machine; another long job (pretraining) may run beside it.
 *
 * Flags: --quick (fewer images and repetitions).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  buildSam,
  createOnnxSamEngine,
  createRoutedSegmenter,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  loadSamWeights,
  prepareImage,
  randomSamStateDict,
  type RgbImage,
  type SamEngine,
  stateDictFingerprint,
  trainTask,
  type TrainingItem,
  writeAdapterFile,
} from '@casam/casam-core';
import { generateDomain } from '@casam/casam-lab';
import { FIXTURES_DIR } from '@casam/casam-core/testing';

const QUICK = process.argv.includes('--quick');
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

async function embedRate(engine: SamEngine, images: RgbImage[], label: string, weights: string) {
  const prep = (img: RgbImage) => prepareImage(img.data, img.height, img.width, engine.config).preprocessed;
  for (const img of images.slice(0, 2)) await engine.embed(prep(img)); // warm-up
  const t0 = performance.now();
  for (const img of images) await engine.embed(prep(img));
  const s = (performance.now() - t0) / 1000;
  log(`  ${label}: ${round(images.length / s, 2)} images/s`);
  return {
    model: engine.config.name,
    engine: label,
    weights,
    images: images.length,
    imagesPerSecond: round(images.length / s, 2),
    msPerImage: round((1000 * s) / images.length, 1),
  };
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

async function main(): Promise<void> {
  const started = Date.now();
  log(
    `bench:site${QUICK ? ' --quick' : ''} on ${cpus().length} cores (load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')})`,
  );
  const info = await initBackend({ prefer: 'wasm', log });
  const tiny = getPreset('casam-tiny');
  const tinySd = randomSamStateDict(tiny, 11);
  const sam = buildSam(tiny, tinySd);
  const engine = createTfjsSamEngine(sam);
  const nImages = QUICK ? 8 : 40;
  const images = domainImages('msd-spleen-ct', nImages, 256, 1).map((i) => i.image);

  // Embedding throughput per engine.
  log('embedding…');
  const embedding = [await embedRate(engine, images, `tfjs-${info.name}`, 'random casam-tiny')];
  const fx = FIXTURES_DIR;
  const miniCkpt = join(fx, 'sam-mini/sam-mini.pth');
  if (existsSync(miniCkpt)) {
    const mini = getPreset('sam-mini');
    const miniEngine = createTfjsSamEngine(buildSam(mini, loadSamWeights(miniCkpt, mini)));
    embedding.push(await embedRate(miniEngine, images, `tfjs-${info.name}`, 'sam-mini fixture'));
    const enc = join(fx, 'onnx/sam-mini-encoder.onnx');
    const dec = join(fx, 'onnx/sam-mini-decoder.onnx');
    if (existsSync(enc)) {
      const ort = await createOnnxSamEngine({ config: mini, encoderPath: enc, decoderPath: dec });
      embedding.push(await embedRate(ort, images, 'onnxruntime-cpu', 'sam-mini fixture export'));
      ort.dispose();
    }
  }
  console.log('\nEmbedding (frozen encoder)');
  console.table(embedding);

  // Training from the cache.
  log('training (1 task, from the embedding cache)…');
  const work = mkdtempSync(join(tmpdir(), 'casam-bench-site-'));
  let training: Record<string, unknown>;
  try {
    const all = domainImages('polyp-endoscopy', QUICK ? 12 : 30, 256, 2);
    const nTrain = Math.floor(all.length * 0.75);
    const epochs = QUICK ? 1 : 3;
    const r = await trainTask({
      taskId: 'bench',
      train: all.slice(0, nTrain),
      val: all.slice(nTrain),
      engine,
      sam,
      baseModel: { preset: 'casam-tiny', fingerprint: stateDictFingerprint(tinySd) },
      cacheDir: join(work, 'cache'),
      workDir: join(work, 'task'),
      al: { epochs },
      vae: { epochs: QUICK ? 5 : 20 },
      seed: 1,
    });
    const t = r.al.timings!;
    training = {
      preset: 'casam-tiny',
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
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log('\nTraining from the cache (casam-tiny, wasm)');
  console.table([training]);

  // Segment latency with a bundle of 1 and of 9 tasks.
  const segment = [];
  const reps = QUICK ? 6 : 30;
  for (const tasks of [0, 1, 9]) {
    log(`segment with ${tasks} task(s)…`);
    const adapters = Array.from({ length: tasks }, (_, i) =>
      loadAdapter(adapterFor(`task-${i}`, i + 1, 1e9), 64),
    );
    const seg = createRoutedSegmenter(engine, adapters);
    const total: number[] = [];
    const parts = {
      embedMs: [] as number[],
      routeMs: [] as number[],
      alignMs: [] as number[],
      decodeMs: [] as number[],
    };
    for (let i = 0; i < reps + 2; i++) {
      const img = images[i % images.length];
      const t0 = performance.now();
      const r = await seg.segment(img, { box: [40, 40, 200, 200] });
      const ms = performance.now() - t0;
      if (i < 2) continue; // warm-up
      total.push(ms);
      for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k].push(r.timings[k]);
    }
    seg.dispose();
    const med = (xs: number[]) => round(pct(xs, 50), 2);
    segment.push({
      bundleTasks: tasks,
      p50Ms: round(pct(total, 50), 1),
      p99Ms: round(pct(total, 99), 1),
      embedMsP50: med(parts.embedMs),
      routeMsP50: med(parts.routeMs),
      alignMsP50: med(parts.alignMs),
      decodeMsP50: med(parts.decodeMs),
      routingOverheadVsEncoder: round(
        (pct(parts.routeMs, 50) + pct(parts.alignMs, 50)) / pct(parts.embedMs, 50),
        3,
      ),
    });
  }
  console.log('\nsegment latency (routed segmenter, casam-tiny on wasm; 0 tasks = plain frozen SAM)');
  console.table(segment);
  const peak = round(peakRssMiB(), 0);
  console.log(`\npeak RSS (VmHWM) of this process: ${peak} MiB`);

  const result = {
    benchmark: 'site',
    quick: QUICK,
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      model: cpus()[0]?.model,
      loadavgAtStart: loadavg(),
      node: process.version,
      backend: info.name,
    },
    notes: [
      'Random casam-tiny weights and the sam-mini fixture: timings do not depend on weight values.',
      'ONNX Runtime is measured on sam-mini (the fixture export); no casam-tiny ONNX export exists yet.',
      'Shared 2-core machine; another long job (pretraining) may run at the same time.',
    ],
    embedding,
    training,
    segment,
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
