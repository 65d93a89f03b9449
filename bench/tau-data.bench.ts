/**
 * `npm run bench:tau-data` — how many training images a task needs before its τ can be trusted.
 *
 * For every seen synthetic domain, the frozen embedded default model's encoder embeds the first N training images and a fixed
 * test set; for each N in the ladder, every task's VAE is trained on its first N pooled features and τ is
 * calibrated from them (5-fold, p97), exactly as `site-agent train` does. Then all nine tasks route the test
 * images of the seen domains and of the three unseen ones. A τ is trustworthy when unseen images fall back and
 * the task's own images are still accepted; with few images the fold VAEs are barely trained, their held-out
 * scores are large and τ accepts almost anything (the demo's 0% unseen fallback at ≤ 8 images per task).
 *
 * Writes bench/results/tau-data.json and tau-data.md. Pooled features are cached per model in
 * bench/results/.tau-data-features-<weights fingerprint>.json (resumable: a rerun embeds nothing it already has).
 * Flags: --quick (N ∈ {5, 8, 16}, 6 test images per domain; what a test can afford), --help.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
  ROUTING_RULES,
  RoutingRule,
  TaskScore,
  attentionPool,
  buildSam,
  calibrateTau,
  createSamPredictor,
  createTfjsSamEngine,
  decide,
  getPreset,
  initBackend,
  loadSamWeights,
  stateDictFingerprint,
  tf,
  trainTaskVae,
} from '@casam/casam-core';
import { DOMAIN_NAMES, parseCliArgs, UNSEEN_DOMAIN_NAMES } from '@casam/casam-lab';
import { splitItems } from './domain-items';

const USAGE = `usage: npm run bench:tau-data -- [options]
  --quick      N ∈ {5, 8, 16} and 6 test images per domain (default: N ∈ {5, 8, 16, 32, 48}, 16 test images)
  --help, -h   print this text`;
const QUICK = parseCliArgs(USAGE, { quick: { type: 'boolean', default: false } }).quick;
const LADDER = QUICK ? [5, 8, 16] : [5, 8, 16, 32, 48];
const TEST = QUICK ? 6 : 16;
const MAX_TRAIN = LADDER[LADDER.length - 1];
const OUT = 'bench/results';
const cfg = getPreset(DEFAULT_PRESET);
const weights = loadSamWeights(DEFAULT_MODEL_FILE, cfg);
const fingerprint = stateDictFingerprint(weights);
const CACHE = join(
  OUT,
  `.tau-data${QUICK ? '-quick' : ''}-features-${fingerprint.replace(/^sha256:/, '').slice(0, 12)}.json`,
);
const DATA = { size: 256, seed: 7 };

type Features = Record<string, { train: number[][]; test: number[][] }>;

async function embedAll(): Promise<Features> {
  const cached: Features = existsSync(CACHE) ? (JSON.parse(readFileSync(CACHE, 'utf8')) as Features) : {};
  const sam = buildSam(cfg, weights);
  const predictor = createSamPredictor(createTfjsSamEngine(sam));
  const pooled = async (img: Parameters<typeof predictor.setImage>[0]): Promise<number[]> => {
    const e = await predictor.setImage(img);
    const x = tf.tensor4d(
      e.embeddings.data as Float32Array,
      e.embeddings.shape as [number, number, number, number],
    );
    const f = attentionPool(x);
    const out = Array.from(f.dataSync());
    tf.dispose([x, f]);
    return out;
  };
  for (const d of [...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES]) {
    const have = cached[d];
    if (have && have.train.length >= MAX_TRAIN && have.test.length >= TEST) continue;
    const items = splitItems(d, { train: MAX_TRAIN, test: TEST }, DATA);
    const t0 = performance.now();
    const train: number[][] = [];
    const test: number[][] = [];
    for (const it of items.train) train.push(await pooled(it.image));
    for (const it of items.test) test.push(await pooled(it.image));
    cached[d] = { train, test };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(CACHE, JSON.stringify(cached));
    console.error(
      `  ${d}: embedded ${train.length + test.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  return cached;
}

const matrix = (rows: number[][]): { dtype: 'float32'; shape: number[]; data: Float32Array } => ({
  dtype: 'float32',
  shape: [rows.length, rows[0].length],
  data: Float32Array.from(rows.flat()),
});

interface Row {
  n: number;
  rule: RoutingRule;
  routingAccuracy: number;
  ownAcceptance: number;
  unseenFallback: number;
  tauMedian: number;
}

async function main(): Promise<void> {
  await initBackend({ prefer: 'wasm' });
  console.error(
    `τ data-size benchmark${QUICK ? ' (quick)' : ''}: N ∈ {${LADDER.join(', ')}}, ${TEST} test images per domain`,
  );
  const feats = await embedAll();
  const rows: Row[] = [];
  for (const n of LADDER) {
    const tasks: {
      dispose: () => void;
      taskId: string;
      score: (x: number[][]) => Float32Array;
      tau: number;
      mean: number;
      std: number;
    }[] = [];
    for (const d of DOMAIN_NAMES) {
      const train = matrix(feats[d].train.slice(0, n));
      const cal = await calibrateTau(train, { seed: 1 });
      const { vae } = await trainTaskVae(train, { seed: 1 });
      tasks.push({
        dispose: () => vae.dispose(),
        taskId: d,
        score: (x) => vae.scoreFeatures(matrix(x)),
        tau: cal.tau,
        mean: cal.mean,
        std: cal.std,
      });
    }
    const scoresOf = (x: number[][]): TaskScore[][] => {
      const per = tasks.map((t) => t.score(x));
      return x.map((_, i) =>
        tasks.map((t, k) => ({
          taskId: t.taskId,
          score: per[k][i],
          tau: t.tau,
          tauStats: { mean: t.mean, std: t.std },
        })),
      );
    };
    const seen = DOMAIN_NAMES.map((d) => ({ d, s: scoresOf(feats[d].test.slice(0, TEST)) }));
    const unseen = UNSEEN_DOMAIN_NAMES.flatMap((d) => scoresOf(feats[d].test.slice(0, TEST)));
    const taus = tasks.map((t) => t.tau).sort((a, b) => a - b);
    for (const rule of ROUTING_RULES) {
      let correct = 0;
      let own = 0;
      let total = 0;
      for (const { d, s } of seen)
        for (const sc of s) {
          total++;
          const r = decide(sc, rule);
          if (r.kind === 'task' && r.taskId === d) correct++;
          const mine = sc.find((x) => x.taskId === d)!;
          if (mine.score <= mine.tau) own++;
        }
      const fallback = unseen.filter((sc) => decide(sc, rule).kind === 'fallback').length / unseen.length;
      rows.push({
        n,
        rule,
        routingAccuracy: correct / total,
        ownAcceptance: own / total,
        unseenFallback: fallback,
        tauMedian: taus[Math.floor(taus.length / 2)],
      });
    }
    tasks.forEach((t) => t.dispose());
    console.error(`  N = ${n}: done`);
  }
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const md = [
    `# τ from few images${QUICK ? ' (quick)' : ''}`,
    '',
    `${DEFAULT_PRESET} frozen encoder (${DEFAULT_MODEL_FILE}, ${fingerprint.slice(0, 19)}…); 9 seen tasks, each VAE and τ (5-fold p97) from its first N training images; ${TEST} test images per domain; unseen = ${UNSEEN_DOMAIN_NAMES.join(', ')}.`,
    '',
    '| N per task | rule | routing accuracy (seen) | own τ accepts own images | unseen fallback | median τ |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.n} | ${r.rule} | ${pct(r.routingAccuracy)} | ${pct(r.ownAcceptance)} | ${pct(r.unseenFallback)} | ${r.tauMedian.toFixed(3)} |`,
    ),
    '',
  ].join('\n');
  const base = QUICK ? 'tau-data-quick' : 'tau-data';
  writeFileSync(
    join(OUT, `${base}.json`),
    JSON.stringify(
      {
        quick: QUICK,
        model: { preset: DEFAULT_PRESET, file: DEFAULT_MODEL_FILE, fingerprint },
        ladder: LADDER,
        test: TEST,
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(OUT, `${base}.md`), md);
  console.log(md);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
