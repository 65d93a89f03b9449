/**
 * `npm run bench:al-lr` — which Adam learning rate the Alignment Layer should default to on the shipped
 * casam-tiny base, on validation data: the continual benchmark's schedule (batch 6 images × 5 regions, the given
 * epochs) on each of the nine seen domains' first 30 *training*-split images, box-prompt IoU on the first 12
 * *val*-split images (never the benchmark's test images) after a third, two thirds and all of the epochs. The
 * frozen base and box-fill on the same images are printed beside.
 *
 * Resumable: each finished (domain, lr) run is saved to bench/results/al-lr.json at once and skipped on the next
 * start with the same settings; embeddings are cached under bench/results/.continual-work/al-lr-cache.
 *
 * Flags: --lrs 3e-4,1e-3,3e-3 --epochs 24 --domains a,b (default: the nine seen) --seed 1 --restart --help
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  EmbeddedItem,
  IDENTITY_ALIGNMENT,
  buildSam,
  createTfjsSamEngine,
  ensureEmbeddings,
  evaluateBoxPrompts,
  getPreset,
  initBackend,
  loadSamWeights,
  stateDictFingerprint,
  trainAlignmentLayer,
  writeFileAtomic,
} from '@casam/casam-core';
import {
  CliUsageError,
  DOMAIN_NAMES,
  failUsage,
  LoadCheckpoints,
  type MachineInfo,
  machineInfo,
  numberFlag,
  parseCliArgs,
} from '@casam/casam-lab';
import { splitItems } from './domain-items';

const root = resolve(__dirname, '..');
const resultsPath = join(root, 'bench/results/al-lr.json');
const work = join(root, 'bench/results/.continual-work/al-lr-cache');
const modelPath = join(root, 'models/casam-tiny/casam-tiny.safetensors');
const USAGE = `usage: npm run bench:al-lr -- [options]
  --lrs X,Y,…      Adam learning rates to compare, comma-separated (default 3e-4,1e-3,3e-3)
  --epochs N       epochs per run, an integer ≥ 3 (default 24)
  --domains a,b    seen domains to run (default: all nine)
  --seed N         training seed (default 1)
  --restart        ignore bench/results/al-lr.json's finished runs and start over
  --help, -h       print this text`;

function parseOptions(): {
  lrs: number[];
  epochs: number;
  seed: number;
  domains: string[];
  restart: boolean;
} {
  const v = parseCliArgs(USAGE, {
    lrs: { type: 'string', default: '3e-4,1e-3,3e-3' },
    epochs: { type: 'string', default: '24' },
    domains: { type: 'string', default: DOMAIN_NAMES.join(',') },
    seed: { type: 'string', default: '1' },
    restart: { type: 'boolean', default: false },
  });
  try {
    const lrs = v.lrs.split(',').map(Number);
    if (lrs.some((x) => !(x > 0)))
      throw new CliUsageError('--lrs takes positive numbers separated by commas');
    const epochs = numberFlag('epochs', v.epochs, { integer: true, min: 3 }) as number;
    const seed = numberFlag('seed', v.seed, { integer: true }) as number;
    const domains = v.domains.split(',');
    for (const d of domains)
      if (!DOMAIN_NAMES.includes(d))
        throw new CliUsageError(`unknown domain ${d} (one of ${DOMAIN_NAMES.join(', ')})`);
    return { lrs, epochs, seed, domains, restart: v.restart };
  } catch (e) {
    return failUsage(e, USAGE);
  }
}

const { lrs, epochs, seed, domains, restart } = parseOptions();
const TRAIN = 30;
const VAL = 12;
const checkpoints = [Math.round(epochs / 3), Math.round((2 * epochs) / 3), epochs];

interface Run {
  domain: string;
  lr: number;
  /** Val IoU after each of `checkpoints` epochs. */
  iou: number[];
  finalLoss: number;
  seconds: number;
}
interface Results {
  benchmark: 'al-lr';
  settings: {
    model: string;
    fingerprint: string;
    epochs: number;
    seed: number;
    train: number;
    val: number;
    checkpoints: number[];
  };
  reference: Record<string, { frozen: number; boxFill: number }>;
  runs: Run[];
  date?: string;
  machine?: MachineInfo;
  summary?: unknown;
}

async function main(): Promise<void> {
  const load = new LoadCheckpoints();
  const backend = await initBackend({ prefer: 'wasm', log: (l) => console.error(l) });
  const cfg = getPreset('casam-tiny');
  const sd = loadSamWeights(modelPath, cfg);
  const fingerprint = stateDictFingerprint(sd);
  const settings = {
    model: 'models/casam-tiny/casam-tiny.safetensors',
    fingerprint,
    epochs,
    seed,
    train: TRAIN,
    val: VAL,
    checkpoints,
  };
  let res: Results = { benchmark: 'al-lr', settings, reference: {}, runs: [] };
  if (existsSync(resultsPath) && !restart) {
    const prev = JSON.parse(readFileSync(resultsPath, 'utf8')) as Results;
    if (JSON.stringify(prev.settings) === JSON.stringify(settings)) res = prev;
    else
      console.error(
        'al-lr: earlier results used other settings; starting over (they are replaced when this run saves)',
      );
  }
  const save = (): void => writeFileAtomic(resultsPath, JSON.stringify(res, null, 2) + '\n');
  const sam = buildSam(cfg, sd);
  const engine = createTfjsSamEngine(sam);
  const total = domains.length * lrs.length;
  let n = 0;
  const t0 = performance.now();
  for (const domain of domains) {
    const { train: trItems, val: vaItems } = splitItems(
      domain,
      { train: TRAIN, val: VAL },
      { size: 256, seed },
    );
    const all = [...trItems, ...vaItems];
    const handles = await ensureEmbeddings(all, engine, { cacheDir: work, fingerprint });
    const emb: EmbeddedItem[] = all.map((it, i) => ({ id: it.id, handle: handles[i], masks: it.masks }));
    const train = emb.slice(0, TRAIN);
    const val = emb.slice(TRAIN);
    if (!res.reference[domain]) {
      const ref = await evaluateBoxPrompts({
        sam,
        items: val,
        transforms: { frozen: IDENTITY_ALIGNMENT },
        boundary: false,
      });
      res.reference[domain] = {
        frozen: ref.methods['frozen'].aggregate.iou,
        boxFill: ref.methods['boxFill'].aggregate.iou,
      };
      save();
    }
    for (const lr of lrs) {
      n++;
      if (res.runs.some((r) => r.domain === domain && r.lr === lr)) continue;
      const ck = join(work, `${domain}-${lr}.ck.safetensors`);
      const iou: number[] = [];
      let finalLoss = NaN;
      let seconds = 0;
      for (const e of checkpoints) {
        // Each call resumes the checkpoint and trains on to epoch e (the same run as one call to `epochs`).
        const r = await trainAlignmentLayer({
          sam,
          items: train,
          epochs: e,
          lr,
          seed,
          checkpoint: { path: ck },
        });
        seconds += r.timings.secondsPerEpoch.reduce((a, b) => a + b, 0);
        finalLoss = r.epochLosses[r.epochLosses.length - 1];
        const ev = await evaluateBoxPrompts({
          sam,
          items: val,
          transforms: { align: r.align },
          boundary: false,
        });
        r.align.dispose();
        iou.push(ev.methods['align'].aggregate.iou);
      }
      res.runs.push({ domain, lr, iou, finalLoss, seconds });
      save();
      const el = (performance.now() - t0) / 1000;
      console.error(
        `[${n}/${total}] ${domain} lr ${lr}: val IoU ${iou.map((x) => x.toFixed(3)).join(' → ')} (frozen ${res.reference[domain].frozen.toFixed(3)}, box-fill ${res.reference[domain].boxFill.toFixed(3)}), ${seconds.toFixed(0)} s; ${el.toFixed(0)} s elapsed`,
      );
    }
  }
  engine.dispose();

  const mean = (lr: number, k: number): number => {
    const rs = res.runs.filter((r) => r.lr === lr && domains.includes(r.domain));
    return rs.reduce((a, r) => a + r.iou[k], 0) / rs.length;
  };
  const winner = lrs.reduce((b, lr) =>
    mean(lr, checkpoints.length - 1) > mean(b, checkpoints.length - 1) ? lr : b,
  );
  load.mark('end');
  res.date = new Date().toISOString();
  res.machine = machineInfo({ load, backend: backend.name });
  res.summary = {
    score: `mean val IoU after ${epochs} epochs over ${domains.length} domains`,
    byLr: Object.fromEntries(lrs.map((lr) => [String(lr), checkpoints.map((_, k) => mean(lr, k))])),
    winner,
  };
  save();
  const short = (d: string): string => d.split('-').slice(0, 2).join('-');
  console.log(
    `\nval IoU after ${checkpoints.join(' / ')} epochs (casam-tiny, ${TRAIN} train / ${VAL} val images, seed ${seed})\n`,
  );
  console.log(`| domain | frozen | box-fill | ${lrs.map((lr) => `lr ${lr}`).join(' | ')} |`);
  console.log(`|---|---|---|${lrs.map(() => '---|').join('')}`);
  for (const d of domains) {
    const cells = lrs.map((lr) => {
      const r = res.runs.find((x) => x.domain === d && x.lr === lr)!;
      return r.iou.map((x) => x.toFixed(3)).join(' / ');
    });
    console.log(
      `| ${short(d)} | ${res.reference[d].frozen.toFixed(3)} | ${res.reference[d].boxFill.toFixed(3)} | ${cells.join(' | ')} |`,
    );
  }
  const ref = (k: 'frozen' | 'boxFill'): string =>
    (domains.reduce((a, d) => a + res.reference[d][k], 0) / domains.length).toFixed(3);
  console.log(
    `| mean | ${ref('frozen')} | ${ref('boxFill')} | ${lrs.map((lr) => checkpoints.map((_, k) => mean(lr, k).toFixed(3)).join(' / ')).join(' | ')} |`,
  );
  console.log(`\nbest after ${epochs} epochs: lr ${winner}\nwrote bench/results/al-lr.json`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
