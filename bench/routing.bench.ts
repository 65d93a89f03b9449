/**
 * `npm run bench:routing` — what routing costs, and the routed segmenter on TF.js vs ONNX Runtime.
 * Prints two tables and writes bench/results/routing.json.
 *
 *   routing     attention pooling + 9 tasks' VAE scores on one embedding, casam-tiny-sized [1,64,16,16] and
 *               casam-small-sized [1,64,32,32]: the TF.js router (the site's backend, wasm) next to the fast
 *               router (plain typed-array code) and next to the same maths as one ONNX graph (pooling + all
 *               9 VAEs → scores [9], built here with the exporter's GraphBuilder) on ONNX Runtime, to pick graph
 *               or plain code by measurement. The TF.js time is route() on a tensor already made, which is
 *               how the TF.js segmenter calls it (it needs the tensor for the Alignment Layer anyway).
 *   segment     end-to-end `segment` per image through the routed segmenter with 9 tasks (random casam-tiny
 *               weights, random adapters, τ = ∞ so every image takes a task's Alignment Layer): TF.js (wasm) vs
 *               ONNX Runtime (TypeScript export, fast router, one session per graph), p50/p99 and the steps.
 *
 * Both sides of each table are measured interleaved in the same run (A, B, A, B, …), so machine load hits
 * them alike: compare the ratios, not the absolute numbers, on a shared machine. Medians of many runs.
 *
 * Flags: --quick (fewer repetitions), --help.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  buildSam,
  createFastRouter,
  createOnnxRoutedSegmenter,
  createRoutedSegmenter,
  createRouter,
  createTaskVae,
  createTfjsSamEngine,
  exportRoutedSegmenterOnnx,
  float32Tensor,
  GraphBuilder,
  getPreset,
  initBackend,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  type StateDict,
  type TaskVae,
  randomSamStateDict,
  type RoutedSegmenter,
  type RouteResult,
  tf,
  writeAdapterFile,
} from '@casam/casam-core';
import { generateDomain, LoadCheckpoints, machineInfo, machineSummary, parseCliArgs } from '@casam/casam-lab';

const USAGE = `usage: npm run bench:routing -- [options]
  --quick      fewer repetitions
  --help, -h   print this text`;
const QUICK = parseCliArgs(USAGE, { quick: { type: 'boolean', default: false } }).quick;
const TASKS = 9;
const log = (s: string) => process.stderr.write(`${s}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

function randomEmbedding(shape: [number, number, number, number], seed: number): Float32Array {
  let a = seed >>> 0;
  const d = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < d.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    d[i] = (a / 4294967296 - 0.5) * 2;
  }
  return d;
}

function adapterFor(taskId: string, seed: number): Uint8Array {
  return writeAdapterFile({
    taskId,
    baseModel: { preset: 'casam-tiny', fingerprint: `sha256:${'ab'.repeat(32)}` },
    tau: { tau: 1e9, p95: 1e9, p99: 1e9, mean: 5e8, std: 1, n: 10, percentile: 97 },
    align: initialAlignmentStateDict(64, seed),
    vae: initialTaskVaeStateDict(64, seed),
  });
}

/**
 * Routing as one ONNX graph: [1,C,H,W] → attention pooling → every VAE's score → scores [T]. Same maths as
 * attention-pool.ts and task-vae.ts (z = μ); only a candidate measured against the plain code.
 */
function routingGraph(vaes: readonly TaskVae[], c: number, h: number, w: number): Uint8Array {
  const b = new GraphBuilder('routing');
  const n = h * w;
  const z = b.input('image_embeddings', 'float32', [1, c, h, w]);
  const zz = b.transpose(b.reshape(z, [c, n]), [1, 0]); // [HW, C]
  const norm = b.op1('Sqrt', [b.mul(b.reduceMean(b.mul(zz, zz), [1], false), b.constF32(c))]); // [HW]
  const a = b.reshape(b.softmax(b.div(norm, b.constF32(c)), -1), [1, n]);
  const f = b.matMul(a, zz); // [1, C]
  const scores: string[] = [];
  vaes.forEach((vae, t) => {
    const sd: StateDict = vae.stateDict();
    const lin = (x: string, name: string): string => {
      const wt = sd.get(`${name}.weight`)!;
      const [o, i] = wt.shape;
      const src = wt.data as Float32Array;
      const tr = new Float32Array(i * o); // PyTorch [out,in] → [in,out] for x·W
      for (let r = 0; r < o; r++) for (let k = 0; k < i; k++) tr[k * o + r] = src[r * i + k];
      const bias = sd.get(`${name}.bias`)!;
      return b.linear(
        x,
        b.weight(`t${t}.${name}.w`, [i, o], tr),
        b.weight(`t${t}.${name}.b`, [o], Float32Array.from(bias.data as Float32Array)),
      );
    };
    const hid = b.gelu(lin(f, 'encoder.0'));
    const mu = lin(hid, 'fc_mu');
    const lv = lin(hid, 'fc_logvar');
    const xhat = lin(b.gelu(lin(mu, 'decoder.0')), 'decoder.2');
    const d = b.sub(xhat, f);
    const recon = b.reduceMean(b.mul(d, d), [1], false); // [1]
    const terms = b.sub(b.sub(b.add(lv, b.constF32(1)), b.mul(mu, mu)), b.op1('Exp', [lv]));
    const latent = vae.latentDim;
    const kl = b.mul(b.reduceMean(terms, [1], false), b.constF32(-0.5 * latent));
    scores.push(b.add(recon, b.mul(kl, b.constF32(vae.beta))));
  });
  b.output('scores', b.concat(scores, 0), 'float32', [vaes.length]);
  return b.serialize({ weights: 'inline' }).model;
}

async function routing(): Promise<Record<string, unknown>[]> {
  const vaes = Array.from({ length: TASKS }, (_, i) =>
    createTaskVae({ inputDim: 64, seed: i + 1, trainable: false }),
  );
  const tasks = vaes.map((vae, i) => ({ taskId: `task-${i}`, vae, tau: 1e9 }));
  const slow = createRouter(tasks);
  const fast = createFastRouter(tasks);
  const rows: Record<string, unknown>[] = [];
  for (const [label, shape] of [
    ['casam-tiny [1,64,16,16]', [1, 64, 16, 16]],
    ['casam-small [1,64,32,32]', [1, 64, 32, 32]],
  ] as [string, [number, number, number, number]][]) {
    const inputs = Array.from({ length: 8 }, (_, i) => randomEmbedding(shape, i + 1));
    const host = inputs.map((d) => float32Tensor([...shape], d));
    const tensors = inputs.map((d) => tf.tensor4d(d, shape));
    const graph = await ort.InferenceSession.create(routingGraph(vaes, shape[1], shape[2], shape[3]), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: availableParallelism(),
      interOpNumThreads: 1,
    });
    const reps = QUICK ? 60 : 400;
    const tTf: number[] = [];
    const tFast: number[] = [];
    const tGraph: number[] = [];
    let same = 0;
    let graphRel = 0;
    for (let i = 0; i < reps + 10; i++) {
      const k = i % inputs.length;
      const a0 = performance.now();
      const ra = slow.route(tensors[k]);
      const a1 = performance.now();
      const rb = fast.route(host[k]);
      const b1 = performance.now();
      const out = await graph.run({ image_embeddings: new ort.Tensor('float32', inputs[k], shape) });
      const gs = out['scores'].data as Float32Array;
      const c1 = performance.now();
      gs.forEach((v, t) => (graphRel = Math.max(graphRel, Math.abs(v - rb.scores[t].score) / Math.abs(v))));
      if (i < 10) continue; // warm-up (kernel compilation, JIT)
      tTf.push(a1 - a0);
      tFast.push(b1 - a1);
      tGraph.push(c1 - b1);
      if (ra.decision.kind === rb.decision.kind && sameWinner(ra, rb)) same++;
    }
    tf.dispose(tensors);
    await graph.release();
    const row = {
      embedding: label,
      tasks: TASKS,
      tfjsMsP50: round(pct(tTf, 50), 3),
      tfjsMsP99: round(pct(tTf, 99), 3),
      fastMsP50: round(pct(tFast, 50), 3),
      fastMsP99: round(pct(tFast, 99), 3),
      ortGraphMsP50: round(pct(tGraph, 50), 3),
      ortGraphMsP99: round(pct(tGraph, 99), 3),
      fastVsTfjsP50: round(pct(tTf, 50) / pct(tFast, 50), 1),
      fastVsGraphP50: round(pct(tGraph, 50) / pct(tFast, 50), 1),
      graphScoreRelDiff: Number(graphRel.toExponential(1)),
      sameDecisions: `${same}/${reps}`,
    };
    rows.push(row);
  }
  for (const v of vaes) v.dispose();
  return rows;
}

function sameWinner(a: RouteResult, b: RouteResult): boolean {
  const id = (r: RouteResult) => (r.decision.kind === 'task' ? r.decision.taskId : r.decision.best?.taskId);
  return id(a) === id(b);
}

async function segment(): Promise<{ rows: Record<string, unknown>[]; exportMs: number }> {
  const cfg = getPreset('casam-tiny');
  const sd = randomSamStateDict(cfg, 11);
  const images = generateDomain('msd-spleen-ct', { count: 8, size: 256, seed: 1 }).map((i) => i.image);
  const adapters = () =>
    Array.from({ length: TASKS }, (_, i) => loadAdapter(adapterFor(`task-${i}`, i + 1), 64));
  const dir = mkdtempSync(join(tmpdir(), 'casam-routing-bench-'));
  try {
    const forExport = adapters();
    const e0 = performance.now();
    exportRoutedSegmenterOnnx(dir, cfg, sd, forExport);
    const exportMs = performance.now() - e0;
    for (const a of forExport) {
      a.align.dispose();
      a.vae.dispose();
    }
    const engines: [string, RoutedSegmenter][] = [
      ['tfjs-wasm', createRoutedSegmenter(createTfjsSamEngine(buildSam(cfg, sd)), adapters())],
      [
        `onnxruntime-cpu (${availableParallelism()} threads)`,
        await createOnnxRoutedSegmenter({ config: cfg, exportDir: dir, adapters: adapters() }),
      ],
    ];
    const reps = QUICK ? 8 : 40;
    const total = engines.map(() => [] as number[]);
    const parts = engines.map(() => ({
      embedMs: [] as number[],
      routeMs: [] as number[],
      alignMs: [] as number[],
      decodeMs: [] as number[],
    }));
    for (let i = 0; i < reps + 2; i++) {
      const img = images[i % images.length];
      for (const [k, [, seg]] of engines.entries()) {
        const t0 = performance.now();
        const r = await seg.segment(img, { box: [40, 40, 200, 200] });
        const ms = performance.now() - t0;
        if (i < 2) continue; // warm-up
        total[k].push(ms);
        for (const p of Object.keys(parts[k]) as (keyof (typeof parts)[number])[])
          parts[k][p].push(r.timings[p]);
      }
    }
    for (const [, seg] of engines) seg.dispose();
    const rows = engines.map(([name], k) => ({
      engine: name,
      tasks: TASKS,
      p50Ms: round(pct(total[k], 50), 1),
      p99Ms: round(pct(total[k], 99), 1),
      embedMsP50: round(pct(parts[k].embedMs, 50)),
      routeMsP50: round(pct(parts[k].routeMs, 50), 3),
      alignMsP50: round(pct(parts[k].alignMs, 50)),
      decodeMsP50: round(pct(parts[k].decodeMs, 50)),
      routeShareOfEmbed: round(pct(parts[k].routeMs, 50) / pct(parts[k].embedMs, 50), 4),
    }));
    const [tfRow, ortRow] = rows;
    rows.push({
      engine: 'speedup (tfjs / ort)',
      tasks: TASKS,
      p50Ms: round(tfRow.p50Ms / ortRow.p50Ms, 1),
      p99Ms: round(tfRow.p99Ms / ortRow.p99Ms, 1),
      embedMsP50: round(tfRow.embedMsP50 / ortRow.embedMsP50, 1),
      routeMsP50: round(tfRow.routeMsP50 / ortRow.routeMsP50, 1),
      alignMsP50: round(tfRow.alignMsP50 / ortRow.alignMsP50, 1),
      decodeMsP50: round(tfRow.decodeMsP50 / ortRow.decodeMsP50, 1),
      routeShareOfEmbed: NaN,
    });
    return { rows, exportMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const load = new LoadCheckpoints();
  log(`routing bench${QUICK ? ' --quick' : ''} on ${machineSummary()}`);
  const info = await initBackend({ prefer: 'wasm', log });
  log('routing…');
  const routingRows = await routing();
  console.log(
    `\nRouting one image, ${TASKS} tasks (tfjs-${info.name} vs plain typed arrays vs one ORT graph, interleaved)`,
  );
  console.table(routingRows);
  log('segment…');
  const seg = await segment();
  console.log(
    `\nRouted segmenter, ${TASKS} tasks, casam-tiny 256 px (tfjs-${info.name} vs ONNX Runtime, interleaved)`,
  );
  console.table(seg.rows);
  load.mark('end');
  const result = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: machineInfo({ load, backend: info.name }),
    note: 'shared machine: compare the ratios (both sides measured interleaved in this run), not absolute times',
    routing: routingRows,
    segment: seg.rows,
    onnxExportMs: round(seg.exportMs, 0),
    seconds: round((Date.now() - started) / 1000, 1),
  };
  const outDir = resolve(__dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'routing.json');
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${out} (load ${result.machine.loadavg['end'].join(' ')})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
