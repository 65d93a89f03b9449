/**
 * `npm run bench:base` — how good is a base model FROZEN, before any adapter: the question issue 19 asks of a
 * new embedded default ("frozen zero-shot ≥ box-fill on average over the 12 domains and on ≥ 8 of 12").
 *
 * For each model given, the tight-box IoU of frozen SAM on every synthetic domain (the 9 seen and the 3 unseen
 * domains of the continual benchmark) next to filling the same box. It scores the generator's VALIDATION split,
 * never the test split bench:continual reports on, so that choosing between pretraining checkpoints with this
 * bench does not select on the benchmark's test images.
 *
 *   npm run bench:base -- [--model FILE[:PRESET]]… [--images N] [--size PX] [--out FILE]
 *
 * FILE is a weights file (.safetensors/.pth) or a pretraining checkpoint (`models/<name>/checkpoints/
 * latest.safetensors`, read through its `model.` tensors); PRESET defaults to the checkpoint's own preset, else
 * casam-tiny. Default: casam-tiny, plus casam-small's checkpoint when it exists. Writes
 * bench/results/base-model.json and prints a table per domain.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  IDENTITY_ALIGNMENT,
  SamEngine,
  createOnnxSamEngine,
  ensureOnnxBaseExport,
  aggregateMetrics,
  buildSam,
  createTfjsSamEngine,
  ensureEmbeddings,
  evaluateBoxPrompts,
  initBackend,
  isPresetName,
  tf,
  writeFileAtomic,
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
} from '@casam/casam-core';
import {
  type BenchModel,
  BenchModelError,
  DOMAIN_NAMES,
  UNSEEN_DOMAIN_NAMES,
  loadBenchModel,
  machineInfo,
} from '@casam/casam-lab';
import { EXIT_CODES } from '@casam/protocol';
import { splitItems } from './domain-items';

const root = resolve(__dirname, '..');
const USAGE =
  'usage: npm run bench:base -- [--model FILE[:PRESET]]… [--images N (per domain, default 16)] [--size PX] [--out FILE]';

/** `FILE[:PRESET]`: weights (default preset casam-tiny) or a pretraining checkpoint (its own preset). */
function loadModel(spec: string): BenchModel {
  const idx = spec.lastIndexOf(':');
  const hasPreset = idx > 0 && isPresetName(spec.slice(idx + 1));
  return loadBenchModel(
    hasPreset ? spec.slice(0, idx) : spec,
    hasPreset ? { preset: spec.slice(idx + 1) } : {},
  );
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      options: {
        model: { type: 'string', multiple: true },
        images: { type: 'string', default: '16' },
        size: { type: 'string', default: '256' },
        out: { type: 'string', default: 'bench/results/base-model.json' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const images = Number(values.images);
  const size = Number(values.size);
  if (!Number.isInteger(images) || images < 1 || !Number.isInteger(size) || size < 64) {
    console.error(`--images must be a positive integer and --size ≥ 64\n${USAGE}`);
    return 2;
  }
  // The embedded default next to casam-tiny, the default it replaced.
  const specs = values.model ?? [
    ...new Set([
      'models/casam-tiny/casam-tiny.safetensors:casam-tiny',
      `${DEFAULT_MODEL_FILE}:${DEFAULT_PRESET}`,
    ]),
  ];
  const backend = await initBackend({ prefer: 'wasm', log: () => undefined });
  console.error(`backend ${backend.summary}; ${images} validation images per domain at ${size} px`);
  const domains = [...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES];
  const items = domains.map((d) => ({
    domain: d,
    items: splitItems(d, { val: images }, { size, seed: 1 }).val,
  }));
  const rows: Record<string, Record<string, { frozen: number; boxFill: number; regions: number }>> = {};
  const meta: {
    label: string;
    path: string;
    preset: string;
    fingerprint: string;
    step: number | null;
    encoderMs: number;
  }[] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const m = loadModel(spec);
    // Two weight files of one preset would share the label `preset` and one column: name the file then.
    if (seen.has(m.label)) m.label = `${m.label} (${basename(m.path, '.safetensors')})`;
    seen.add(m.label);
    const sam = buildSam(m.cfg, m.sd);
    const tfjs = createTfjsSamEngine(sam);
    const fingerprint = m.fingerprint;
    // Embeddings through ONNX Runtime (the product's default engine), TF.js where it cannot load.
    let engine: SamEngine = tfjs;
    try {
      const exp = await ensureOnnxBaseExport({
        cacheRoot: resolve(root, '.bench-work/onnx-cache'),
        config: m.cfg,
        modelFingerprint: fingerprint,
        stateDict: () => m.sd,
        reference: () => tfjs,
        log: (l) => console.error(`  ${l}`),
      });
      engine = await createOnnxSamEngine({
        config: m.cfg,
        encoderPath: exp.encoderPath,
        decoderPath: exp.decoderPath,
      });
    } catch (e) {
      console.error(`  ${m.label}: ONNX Runtime unavailable (${(e as Error).message}); embedding with TF.js`);
    }
    const t0 = performance.now();
    const all = items.flatMap((d) => d.items);
    const handles = await ensureEmbeddings(all, engine, {
      cacheDir: resolve(root, '.bench-work/base-model', fingerprint.replace(/[^0-9a-z]/gi, '').slice(0, 24)),
      fingerprint,
      onProgress: (p) => {
        if (p.done === p.total || p.done % 48 === 0)
          console.error(`  ${m.label}: embeddings ${p.done}/${p.total}`);
      },
    });
    const encoderMs = (performance.now() - t0) / all.length;
    const embedded = all.map((it, i) => ({ id: it.id, handle: handles[i], masks: it.masks }));
    const r = await evaluateBoxPrompts({
      sam,
      items: embedded,
      transforms: { frozen: IDENTITY_ALIGNMENT },
      boundary: false,
    });
    const byId = new Map(all.map((it, i) => [it.id, items.find((d) => d.items.includes(all[i]))!.domain]));
    const perDomain: Record<string, { frozen: number; boxFill: number; regions: number }> = {};
    for (const d of domains) {
      const pick = (k: string): { iou: number; dice: number }[][] =>
        r.methods[k].perImage.filter((x) => byId.get(x.id) === d).map((x) => x.regions);
      const f = pick('frozen');
      perDomain[d] = {
        frozen: aggregateMetrics(f).iou,
        boxFill: aggregateMetrics(pick('boxFill')).iou,
        regions: f.reduce((s, x) => s + x.length, 0),
      };
    }
    rows[m.label] = perDomain;
    meta.push({
      label: m.label,
      path: relative(root, m.path),
      preset: m.cfg.name,
      fingerprint,
      step: m.step,
      encoderMs,
    });
    if (engine !== tfjs) engine.dispose();
    sam.dispose();
    tf.disposeVariables();
  }
  // table
  const labels = Object.keys(rows);
  const pad = (s: string, n: number): string => s.padStart(n);
  console.log(
    `\n${'domain'.padEnd(28)}${pad('box-fill', 9)}${labels.map((l) => pad(l, Math.max(12, l.length + 2))).join('')}`,
  );
  for (const d of domains) {
    const bf = rows[labels[0]][d].boxFill;
    console.log(
      `${(d + (UNSEEN_DOMAIN_NAMES.includes(d) ? ' *' : '')).padEnd(28)}${pad(bf.toFixed(3), 9)}` +
        labels.map((l) => pad(rows[l][d].frozen.toFixed(3), Math.max(12, l.length + 2))).join(''),
    );
  }
  const summary = labels.map((l) => {
    const v = domains.map((d) => rows[l][d]);
    return {
      label: l,
      meanFrozen: v.reduce((s, x) => s + x.frozen, 0) / v.length,
      meanBoxFill: v.reduce((s, x) => s + x.boxFill, 0) / v.length,
      domainsAtOrAboveBoxFill: v.filter((x) => x.frozen >= x.boxFill).length,
    };
  });
  console.log(
    `${'mean (12 domains)'.padEnd(28)}${pad(summary[0].meanBoxFill.toFixed(3), 9)}` +
      summary.map((s) => pad(s.meanFrozen.toFixed(3), Math.max(12, s.label.length + 2))).join(''),
  );
  console.log(
    `${'domains ≥ box-fill'.padEnd(28)}${pad('', 9)}` +
      summary.map((s) => pad(`${s.domainsAtOrAboveBoxFill}/12`, Math.max(12, s.label.length + 2))).join(''),
  );
  console.log(
    '* unseen domain; validation split of the generator (seed 1), tight box per region, frozen = no adapter',
  );
  const out = resolve(values.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(
    out,
    JSON.stringify(
      {
        benchmark: 'base-model',
        date: new Date().toISOString(),
        command: `npm run bench:base -- ${process.argv.slice(2).join(' ')}`.trim(),
        split: 'val',
        imagesPerDomain: images,
        size,
        backend: backend.summary,
        machine: machineInfo(),
        models: meta,
        summary,
        perDomain: rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.error(`wrote ${relative(root, out)}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof BenchModelError) {
      console.error(`bench:base: ${e.message}`);
      process.exit(EXIT_CODES.model);
    }
    console.error(`bench:base: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
