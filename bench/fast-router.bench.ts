/**
 * `node --import tsx bench/fast-router.bench.ts` — the fast router (libs/casam-core/src/casam/fast-router.ts)
 * of this working tree against the same file at a git revision (default HEAD), side by side in one process.
 *
 * Both routers are built over the same 9 random TF.js TaskVAEs (C = 64) and route the same seeded embeddings
 * ([1,64,16,16] as casam-tiny, or --size), alternating old/new every pass (A, B, B, A, …) so machine load hits
 * them alike: on a shared machine only the ratio means something. Reports route() p50/p99 for each and the
 * old/new ratio, and checks that both give the same decisions and scores (within float32 rounding) first.
 *
 * The old router is the revision's fast-router.ts and simd-dense.ts written to a temporary folder (their imports
 * of other modules pointed at this tree), so the comparison needs no second checkout. Nothing is written under
 * bench/results.
 *
 * Flags: --rev <git revision> (default HEAD, i.e. uncommitted changes against the last commit; 147eb14 is the
 * per-task router before the one-memory batched scorer of issue 18), --passes <n> (default 2000), --size <H>
 * (embedding H = W, default 16), --cold (before every timed route, outside the timing, stream through a 64 MiB
 * buffer so that the router's weights (~1.4 MB for 9 tasks) and scratch come from memory, as in the segmenter,
 * where the encoder runs between two routes; on this 2-core VM a cold route costs about twice a warm one), --help.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createFastRouter, createTaskVae, float32Tensor, initBackend, mulberry32 } from '@casam/casam-core';
import { failUsage, numberFlag, parseCliArgs } from '@casam/casam-lab';

const USAGE = `usage: node --import tsx bench/fast-router.bench.ts [options]
  --rev <rev>     git revision of the old fast router (default HEAD)
  --passes <n>    timed passes per router (default 2000)
  --size <h>      embedding height = width (default 16, casam-tiny)
  --cold          evict the caches (64 MiB streamed) before every timed route
  --help, -h      print this text`;
const args = parseCliArgs(USAGE, {
  rev: { type: 'string', default: 'HEAD' },
  passes: { type: 'string', default: '2000' },
  size: { type: 'string', default: '16' },
  cold: { type: 'boolean', default: false },
});
let PASSES = 0;
let SIZE = 0;
try {
  PASSES = numberFlag('passes', args.passes, { integer: true, min: 10 })!;
  SIZE = numberFlag('size', args.size, { integer: true, min: 1 })!;
} catch (e) {
  failUsage(e, USAGE);
}
const C = 64;
const TASKS = 9;
const ROOT = resolve(__dirname, '..');
const CASAM = join(ROOT, 'libs/casam-core/src/casam');

type Router = ReturnType<typeof createFastRouter>;

/** The revision's fast-router.ts + simd-dense.ts in a temporary folder, imported. */
async function oldRouterModule(
  rev: string,
  dir: string,
): Promise<{ createFastRouter: typeof createFastRouter }> {
  for (const name of ['fast-router.ts', 'simd-dense.ts']) {
    const text = execFileSync('git', ['show', `${rev}:libs/casam-core/src/casam/${name}`], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const pointed = text.replace(/from '(\.\.?\/[^']+)'/g, (all, p: string) =>
      p === './simd-dense' ? all : `from '${resolve(CASAM, p)}'`,
    );
    writeFileSync(join(dir, name), pointed);
  }
  return import(pathToFileURL(join(dir, 'fast-router.ts')).href);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

async function main(): Promise<void> {
  await initBackend({ prefer: 'wasm', log: () => undefined });
  const dir = mkdtempSync(join(tmpdir(), 'fast-router-old-'));
  try {
    const old = await oldRouterModule(args.rev, dir);
    const vaes = Array.from({ length: TASKS }, (_, i) =>
      createTaskVae({ inputDim: C, seed: 100 + i, trainable: false }),
    );
    const tasks = vaes.map((vae, i) => ({ taskId: `t${i}`, vae, tau: 40 + 10 * i }));
    const routers: { name: string; router: Router }[] = [
      { name: `old (${args.rev})`, router: old.createFastRouter(tasks) },
      { name: 'new (working tree)', router: createFastRouter(tasks) },
    ];
    for (const v of vaes) v.dispose();
    const rng = mulberry32(5);
    const embeddings = Array.from({ length: 8 }, (_, s) => {
      const d = new Float32Array(C * SIZE * SIZE);
      const scale = 0.2 + s;
      for (let i = 0; i < d.length; i++) d[i] = (rng() + rng() + rng() - 1.5) * scale;
      return float32Tensor([1, C, SIZE, SIZE], d);
    });
    // Same decisions and scores first.
    let worst = 0;
    for (const e of embeddings) {
      const [a, b] = routers.map((r) => r.router.route(e));
      if (JSON.stringify(a.decision) !== JSON.stringify(b.decision))
        console.log(`decisions differ: ${JSON.stringify(a.decision)} vs ${JSON.stringify(b.decision)}`);
      for (let k = 0; k < a.scores.length; k++) {
        const [x, y] = [a.scores[k].score, b.scores[k].score];
        worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(x), 1e-12));
      }
    }
    const ms = routers.map(() => [] as number[]);
    // Larger than the last-level cache (32 MiB here); one write per 64-byte line evicts what the route used.
    const junk = args.cold ? new Float64Array(8 * 2 ** 20) : null;
    for (let pass = -50; pass < PASSES; pass++)
      for (let k = 0; k < routers.length; k++) {
        const j = pass % 2 ? routers.length - 1 - k : k;
        const e = embeddings[(pass + 50) % embeddings.length];
        if (junk) for (let i = 0; i < junk.length; i += 8) junk[i] += 1;
        const t0 = performance.now();
        routers[j].router.route(e);
        const t = performance.now() - t0;
        if (pass >= 0) ms[j].push(t);
      }
    const rows = routers.map((r, j) => ({
      router: r.name,
      routeMsP50: +pct(ms[j], 50).toFixed(4),
      routeMsP99: +pct(ms[j], 99).toFixed(4),
    }));
    console.log(
      `fast router, ${TASKS} tasks, embedding [1,${C},${SIZE},${SIZE}], ${PASSES} interleaved passes` +
        `${args.cold ? ' (cold caches)' : ''}; ` +
        `worst score rel diff old vs new ${worst.toExponential(2)}, decisions identical`,
    );
    console.table(rows);
    console.log(
      `old/new: p50 ${(rows[0].routeMsP50 / rows[1].routeMsP50).toFixed(2)}x, ` +
        `p99 ${(rows[0].routeMsP99 / rows[1].routeMsP99).toFixed(2)}x`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
