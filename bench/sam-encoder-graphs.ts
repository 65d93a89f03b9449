/**
 * Why one encoder graph is slower than another on ONNX Runtime (issue 18): the TypeScript export and PyTorch's
 * own export of the same seeded random weights, each run on onnxruntime-node (with --profile: per-node
 * profiling), then timed interleaved (round r runs both, in a rotating order, so load swings hit both alike).
 *
 *   tsx bench/sam-encoder-graphs.ts [--preset casam-tiny|vit_b|vit_b-d2|…] [--dir /tmp/vg] [--rounds 3] [--profile]
 *
 * Prints the interleaved medians and, with --profile, per op type the node count and summed time of one profiled
 * run per graph. PyTorch's export (Debian python3-torch, a measuring stick only) is cached in --dir.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportSamOnnx, float32Tensor, getPreset, isPresetName, randomSamStateDict } from '@casam/casam-core';
import {
  CliUsageError,
  failUsage,
  findTorchPython,
  numberFlag,
  parseCliArgs,
  startTorchEncoder,
} from '@casam/casam-lab';

const USAGE = `usage: tsx bench/sam-encoder-graphs.ts [options]
  --preset NAME   a SAM preset, or vit_b-d2 (vit_b's first windowed and first global block) (default casam-tiny)
  --dir DIR       work folder: the exports, PyTorch's cached export, the profiles (default /tmp/vg)
  --rounds N      interleaved timing rounds (default 3)
  --threads N     ONNX Runtime intra-op threads per session (default 2; 1 is steadier on a busy machine)
  --spin          let ONNX Runtime's threads spin between runs (its default; the product turns it off)
  --profile       also profile one run per graph and print the time per op type
  --help, -h      print this text`;

const { preset, dir, rounds, profile, threads, spin } = ((): {
  spin: boolean;
  preset: string;
  dir: string;
  rounds: number;
  profile: boolean;
  threads: number;
} => {
  const v = parseCliArgs(USAGE, {
    preset: { type: 'string', default: 'casam-tiny' },
    dir: { type: 'string', default: '/tmp/vg' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    spin: { type: 'boolean', default: false },
  });
  try {
    if (v.preset !== 'vit_b-d2' && !isPresetName(v.preset))
      throw new CliUsageError(`--preset: unknown preset ${v.preset}`);
    if (v.dir === '') throw new CliUsageError('--dir needs a folder');
    const rounds = numberFlag('rounds', v.rounds, { integer: true, min: 1 }) as number;
    const threads = numberFlag('threads', v.threads, { integer: true, min: 1 }) as number;
    return { preset: v.preset, dir: v.dir, rounds, profile: v.profile, threads, spin: v.spin };
  } catch (e) {
    return failUsage(e, USAGE);
  }
})();

async function main() {
  // `vit_b-d2`: vit_b's first windowed block and first global block only, for quicker looks at the same shapes.
  const cfg =
    preset === 'vit_b-d2'
      ? { ...getPreset('vit_b'), name: 'vit_b-d2', encoderDepth: 2, encoderGlobalAttnIndexes: [1] }
      : getPreset(preset);
  const sd = randomSamStateDict(cfg, 1);
  const s = cfg.imgSize;
  const img = new Float32Array(3 * s * s);
  for (let i = 0; i < img.length; i++) img[i] = Math.sin(i * 0.37) * 1.5;
  const image = float32Tensor([1, 3, s, s], img);
  const exported = exportSamOnnx(join(dir, `ts-${preset}`), cfg, sd, { modelFingerprint: 'graphs-seed-1' });
  const tsPath = join(dir, `ts-${preset}`, exported.encoder.file);
  // CASAM_BASELINE_ONNX: compare with another graph (e.g. an earlier TS export) instead of PyTorch's.
  const torchPath = process.env['CASAM_BASELINE_ONNX'] ?? join(dir, `torch-${preset}-encoder.onnx`);
  if (!existsSync(torchPath)) {
    const py = findTorchPython();
    if (!py) throw new Error('no python3 with torch');
    const t = await startTorchEncoder({
      python: py.python,
      cfg,
      sd,
      image,
      dir,
      threads,
      onnxPath: torchPath,
    });
    await t.close();
  }
  const open = (path: string, tag: string) =>
    ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      executionMode: 'sequential',
      interOpNumThreads: 1,
      intraOpNumThreads: threads,
      graphOptimizationLevel: 'all',
      // The product's setting (onnx/session-options.ts): no spinning between runs, unless --spin.
      extra: { session: { intra_op: { allow_spinning: spin ? '1' : '0' } } },
      optimizedModelFilePath: join(dir, `${tag}-${preset}-optimized.onnx`),
      ...(profile ? { enableProfiling: true, profileFilePrefix: join(dir, `${tag}-${preset}`) } : {}),
    });
  const engines = [
    { tag: 'ts', session: await open(tsPath, 'ts'), times: [] as number[], out: null as Float32Array | null },
    {
      tag: 'torch',
      session: await open(torchPath, 'torch'),
      times: [] as number[],
      out: null as Float32Array | null,
    },
  ];
  const feed = { image: new ort.Tensor('float32', img, [1, 3, s, s]) };
  for (const e of engines) {
    const r = await e.session.run(feed);
    e.out = r[e.session.outputNames[0]].data as Float32Array;
  }
  let d = 0;
  for (let i = 0; i < engines[0].out!.length; i++)
    d = Math.max(d, Math.abs(engines[0].out![i] - engines[1].out![i]));
  console.log(
    `max |ts − torch| = ${d.toExponential(2)}; load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < engines.length; k++) {
      const e = engines[(r + k) % engines.length];
      const t0 = performance.now();
      await e.session.run(feed);
      e.times.push(performance.now() - t0);
    }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const e of engines)
    console.log(
      `${e.tag}: ${e.times.map((t) => t.toFixed(0)).join(' ')} median ${med(e.times).toFixed(1)} min ${Math.min(
        ...e.times,
      ).toFixed(1)}`,
    );
  // Per round torch/ts of the same round: a load swing inside one round hits both, so this median is steadier.
  const paired = engines[1].times.map((t, r) => t / engines[0].times[r]);
  console.log(`torch/ts paired (per-round) median ${med(paired).toFixed(3)}`);
  console.log(
    `torch/ts median ratio ${(med(engines[1].times) / med(engines[0].times)).toFixed(3)}; load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  if (profile)
    for (const e of engines) {
      e.session.endProfiling();
      const prefix = `${e.tag}-${preset}_`;
      const file = join(
        dir,
        readdirSync(dir)
          .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
          .sort()
          .pop()!,
      );
      const events = JSON.parse(readFileSync(file, 'utf8')) as {
        cat: string;
        name: string;
        dur: number;
        args?: { op_name?: string };
      }[];
      const byOp = new Map<string, { n: number; us: number }>();
      for (const ev of events) {
        if (ev.cat !== 'Node' || !ev.name.endsWith('_kernel_time')) continue;
        const op = ev.args?.op_name ?? '?';
        const a = byOp.get(op) ?? { n: 0, us: 0 };
        a.n++;
        a.us += ev.dur;
        byOp.set(op, a);
      }
      const runs = 1 + rounds;
      console.log(`--- ${e.tag} per op type (count, ms per run)`);
      for (const [op, a] of [...byOp].sort((x, y) => y[1].us - x[1].us))
        console.log(
          `  ${op.padEnd(28)} ${String(a.n / runs).padStart(5)} ${(a.us / runs / 1000).toFixed(1).padStart(9)}`,
        );
    }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
