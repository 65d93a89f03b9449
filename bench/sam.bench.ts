/**
 * `npm run bench:sam` — SAM latency per engine/backend, and the wasm training-kernel throughput.
 * Prints a table and writes bench/results/sam.json. Timings need no real weights: where the fixture checkpoint
 * is absent (and always for casam-tiny, whose weights come with the CA-SAM engine) seeded random weights of the
 * official shapes are used.
 *
 * Then issue 18's comparison (bench/sam-vitb.ts): the vit_b encoder at 1024² on the TypeScript-exported graph
 * (ONNX Runtime), tfjs-wasm, PyTorch 1.13 eager and ORT on PyTorch's own export, interleaved in this run; and
 * the exporter's time and file size per preset (bench/sam-exports.ts).
 *
 * Flags: --runs N (timed encoder runs per cell, default 10), --quick (2 runs; what CI could afford),
 * --vitb-runs N (timed vit_b rounds after one warm-up, default 3, 1 with --quick), --no-vitb,
 * --threads N (ONNX Runtime and PyTorch intra-op threads, default: the cores), --help.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  SamEngine,
  SamConfig,
  StateDict,
  buildSam,
  createOnnxSamEngine,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  prepareImage,
  randomSamStateDict,
  tf,
} from '@casam/casam-core';
import {
  failUsage,
  findTorchPython,
  LoadCheckpoints,
  machineInfo,
  numberFlag,
  parseCliArgs,
} from '@casam/casam-lab';
import { measureKernelThroughput } from './kernels';
import { ExportRow, measureExport } from './sam-exports';
import { VitbComparison, compareVitbEncoders } from './sam-vitb';

const root = resolve(__dirname, '..');
const fixtures = process.env['CASAM_FIXTURES'] ?? resolve(root, '../shared/fixtures');
const USAGE = `usage: npm run bench:sam -- [options]
  --runs N        timed encoder runs per cell (default 10; 2 with --quick)
  --quick         2 runs, 1 vit_b round, 3 kernel iterations: what CI could afford
  --vitb-runs N   timed vit_b rounds after one warm-up (default 3; 1 with --quick)
  --no-vitb       skip the vit_b encoder comparison
  --threads N     ONNX Runtime and PyTorch intra-op threads (default: the cores)
  --help, -h      print this text`;

const { quick, noVitb, RUNS, VITB_RUNS, THREADS } = ((): {
  quick: boolean;
  noVitb: boolean;
  RUNS: number;
  VITB_RUNS: number;
  THREADS: number;
} => {
  const v = parseCliArgs(USAGE, {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'vitb-runs': { type: 'string' },
    'no-vitb': { type: 'boolean', default: false },
    threads: { type: 'string' },
  });
  try {
    const int = (name: 'runs' | 'vitb-runs' | 'threads', fallback: number): number =>
      numberFlag(name, v[name], { integer: true, min: 1 }) ?? fallback;
    return {
      quick: v.quick,
      noVitb: v['no-vitb'],
      RUNS: int('runs', v.quick ? 2 : 10),
      VITB_RUNS: int('vitb-runs', v.quick ? 1 : 3),
      THREADS: int('threads', availableParallelism()),
    };
  } catch (e) {
    return failUsage(e, USAGE);
  }
})();
const SEED = 1;
const EXPORT_PRESETS = ['casam-tiny', 'casam-small', 'sam-mini', 'vit_b', 'vit_l', 'vit_h'];

interface Row {
  model: string;
  engine: string;
  weights: string;
  encoderMs: { median: number; min: number; runs: number };
  decoderMs: { median: number; min: number; runs: number };
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], runs: s.length };
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<ReturnType<typeof stats>> {
  await fn(); // warm-up: compiles kernels, allocates, settles the thread pool
  await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return stats(out);
}

function testImage(cfg: SamConfig) {
  const h = cfg.imgSize;
  const w = cfg.imgSize;
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 251;
  return prepareImage(data, h, w, cfg).preprocessed;
}

async function benchEngine(engine: SamEngine, label: string, weights: string): Promise<Row> {
  const cfg = engine.config;
  const pre = testImage(cfg);
  process.stderr.write(`  ${cfg.name} on ${label}: encoder…`);
  const enc = await time(() => engine.embed(pre), RUNS);
  const emb = await engine.embed(pre);
  const s = cfg.imgSize;
  const prompt = { box: [s * 0.2, s * 0.25, s * 0.7, s * 0.8] as [number, number, number, number] };
  process.stderr.write(' decoder…');
  const dec = await time(() => engine.decode(emb, prompt, { multimask: true }), RUNS * 4);
  process.stderr.write(` done\n`);
  return { model: cfg.name, engine: label, weights, encoderMs: enc, decoderMs: dec };
}

function weightsFor(cfg: SamConfig): { sd: StateDict; source: string } {
  const f = join(fixtures, 'sam-mini/sam-mini.safetensors');
  if (cfg.name === 'sam-mini' && existsSync(f)) return { sd: loadSamWeights(f, cfg), source: 'fixture' };
  return { sd: randomSamStateDict(cfg, 1), source: 'random (seeded)' };
}

async function main() {
  const load = new LoadCheckpoints();
  const torchPython = findTorchPython();
  const work = mkdtempSync(join(tmpdir(), 'casam-bench-sam-'));
  const rows: Row[] = [];
  const models = ['sam-mini', 'casam-tiny'];
  const backends = ['wasm', 'cpu'];
  for (const b of ['tfjs-node-gpu', 'tfjs-node']) {
    try {
      await initBackend({ prefer: b as 'tfjs-node', log: () => {} });
      backends.unshift(b);
    } catch {
      // not installed here: skipped, and said so in the JSON
    }
  }
  console.error(`SAM benchmark: ${RUNS} timed runs per encoder cell, ${RUNS * 4} per decoder cell`);
  for (const backend of backends) {
    const info = await initBackend({ prefer: backend as 'wasm', log: (l) => console.error(l) });
    for (const m of models) {
      const cfg = getPreset(m);
      const { sd, source } = weightsFor(cfg);
      const engine = createTfjsSamEngine(buildSam(cfg, sd));
      const before = tf.memory().numTensors;
      rows.push(await benchEngine(engine, `tfjs-${info.name}`, source));
      engine.dispose();
      if (tf.memory().numTensors > before)
        console.error(`  warning: ${tf.memory().numTensors - before} tensors leaked`);
    }
  }
  const enc = join(fixtures, 'onnx/sam-mini-encoder.onnx');
  const dec = join(fixtures, 'onnx/sam-mini-decoder.onnx');
  const onnxNote = existsSync(enc)
    ? 'sam-mini official-format exports from the fixtures'
    : 'skipped: no ONNX export on this machine';
  if (existsSync(enc)) {
    const engine = await createOnnxSamEngine({
      config: getPreset('sam-mini'),
      encoderPath: enc,
      decoderPath: dec,
    });
    rows.push(await benchEngine(engine, 'onnxruntime-cpu', 'fixture export'));
    engine.dispose();
  }

  console.error(`\nONNX export (TypeScript exporter) per preset, seeded random weights…`);
  const log = (l: string) => console.error(l);
  const exports: ExportRow[] = [];
  for (const p of EXPORT_PRESETS.filter((p) => p !== 'vit_l' && p !== 'vit_h'))
    exports.push(measureExport(p, work, SEED, log));
  for (const e of exports.filter((e) => e.preset !== 'vit_b' && e.encoderPath && e.decoderPath)) {
    const engine = await createOnnxSamEngine({
      config: getPreset(e.preset),
      encoderPath: e.encoderPath!,
      decoderPath: e.decoderPath!,
      threads: THREADS,
    });
    rows.push(await benchEngine(engine, 'onnxruntime-cpu (TS export)', `random (seed ${SEED}) export`));
    engine.dispose();
  }

  let vitb: VitbComparison | null = null;
  const vitbExport = exports.find((e) => e.preset === 'vit_b');
  if (!noVitb && vitbExport?.encoderPath && vitbExport.decoderPath) {
    console.error(
      `\nvit_b encoder at 1024², ${VITB_RUNS} interleaved rounds after one warm-up, ${THREADS} threads…`,
    );
    if (!torchPython) console.error('  note: no python3 with torch here: the PyTorch rows are skipped');
    vitb = await compareVitbEncoders({
      exported: { encoderPath: vitbExport.encoderPath, decoderPath: vitbExport.decoderPath },
      image: testImage,
      dir: work,
      runs: VITB_RUNS,
      threads: THREADS,
      seed: SEED,
      torch: torchPython,
      log,
    });
  }
  rmSync(join(work, 'vit_b'), { recursive: true, force: true });
  console.error('\nwasm training-kernel throughput…');
  await initBackend({ prefer: 'wasm', log: () => {} });
  const kernels = await measureKernelThroughput({ backend: 'wasm', iterations: quick ? 3 : 10 });

  const table = [
    '| model | engine | weights | encoder ms (median) | encoder ms (min) | decoder ms (median) |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.engine} | ${r.weights} | ${r.encoderMs.median.toFixed(1)} | ${r.encoderMs.min.toFixed(1)} | ${r.decoderMs.median.toFixed(2)} |`,
    ),
  ];
  const wasmMini = rows.find((r) => r.model === 'sam-mini' && r.engine === 'tfjs-wasm');
  const onnxMini = rows.find((r) => r.model === 'sam-mini' && r.engine === 'onnxruntime-cpu');
  const ratio = wasmMini && onnxMini ? wasmMini.encoderMs.median / onnxMini.encoderMs.median : null;
  console.log('\n' + table.join('\n'));
  console.log(
    `\n| wasm kernel | GFLOP/s |\n|---|---|\n| matmul | ${kernels.matmul.toFixed(1)} |\n| conv2d forward | ${kernels.conv2dForward.toFixed(1)} |\n| conv2d filter gradient | ${kernels.conv2dFilterGrad.toFixed(1)} |`,
  );
  if (ratio) console.log(`\nsam-mini encoder: tfjs-wasm is ${ratio.toFixed(2)}× the ONNX Runtime time.`);
  if (vitb) console.log('\n' + vitbTable(vitb).join('\n'));

  load.mark('end');
  const out = {
    benchmark: 'sam',
    date: new Date().toISOString(),
    machine: { ...machineInfo({ load }), torch: torchPython?.torchVersion ?? null },
    tfjs: (
      JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8')) as {
        version: string;
      }
    ).version,
    runs: RUNS,
    rows,
    onnx: onnxNote,
    backendsTried: ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'],
    backendsMeasured: backends,
    wasmKernelGflops: kernels,
    wasmOverOnnxEncoder: ratio,
    threads: THREADS,
    exports: exports.map(({ encoderPath: _e, decoderPath: _d, ...rest }) => rest),
    vitb: vitb ?? { skipped: '--no-vitb' },
    note: 'shared machine: compare engines within this run (vit_b rows are interleaved), not across runs',
  };
  const save = () => {
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/sam.json'), JSON.stringify(out, null, 2) + '\n');
    console.log('\nwrote bench/results/sam.json');
  };
  save();
  // The large exports come last, once the results are on disk: they need GBs on a machine others share too.
  for (const p of ['vit_l', 'vit_h']) {
    exports.push(measureExport(p, work, SEED, log));
    rmSync(join(work, p), { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
  out.exports = exports.map(({ encoderPath: _e, decoderPath: _d, ...rest }) => rest);
  console.log('\n' + exportTable(exports).join('\n'));
  save();
}

function exportTable(exports: ExportRow[]): string[] {
  const mb = (b: number | null) => (b === null ? '–' : (b / 1e6).toFixed(1));
  return [
    '| preset | parameters | export s | encoder .onnx MB | decoder .onnx MB | note |',
    '|---|---|---|---|---|---|',
    ...exports.map(
      (e) =>
        `| ${e.preset} | ${(e.params / 1e6).toFixed(1)} M | ${e.exportMs === null ? '–' : (e.exportMs / 1000).toFixed(1)} | ${mb(e.encoderBytes)} | ${mb(e.decoderBytes)} | ${e.note ?? ''} |`,
    ),
  ];
}

function vitbTable(v: VitbComparison): string[] {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  return [
    `vit_b image encoder, ${v.imgSize}², ${v.threads} threads, interleaved (${v.rows[0]?.encoderMs.runs ?? 0} timed rounds after ${v.warmups} warm-up)`,
    '| engine | encoder s (median) | encoder s (min) | max abs diff vs tfjs |',
    '|---|---|---|---|',
    ...v.rows.map(
      (r) =>
        `| ${r.engine} | ${s(r.encoderMs.median)} | ${s(r.encoderMs.min)} | ${r.maxAbsDiffVsTfjs.toExponential(1)} |`,
    ),
    '',
    '| ratio (others / TS export on ORT) | median | min | target | met |',
    '|---|---|---|---|---|',
    ...Object.entries(v.ratios).map(
      ([k, r]) =>
        `| ${k} | ${r.median.toFixed(2)} | ${r.min.toFixed(2)} | ${r.target} | ${r.met ? 'yes' : 'no'} |`,
    ),
    ...v.notes.map((n) => `note: ${n}`),
  ];
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
