/**
 * `npm run bench:continual -- --quick`, black-box: the CI run of the continual-learning benchmark. It takes
 * minutes, so it runs in CI (CI=true, set by .ci/run) or when CASAM_BENCH_E2E=1, and is skipped otherwise.
 * The base model is casam-tiny (models/casam-tiny), the default before casam-small: CI's time is short, and the
 * full run on the embedded default is `npm run bench:continual` (bench/results/continual.json).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@casam/casam-core';

const root = resolve(__dirname, '../..');
const enabled = process.env['CI'] === 'true' || process.env['CASAM_BENCH_E2E'] === '1';
const SHIPPED = join(root, 'models/casam-tiny/casam-tiny.safetensors');

interface Run {
  code: number | null;
  stderr: string;
}

/** Runs the benchmark; `stopWhen` sends SIGINT once stderr matches it. */
function bench(args: string[], stopWhen?: RegExp): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/continual.bench.ts', ...args], {
      cwd: root,
      env: { ...process.env, CASAM_BACKEND: 'wasm' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let stopped = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stopWhen && !stopped && stopWhen.test(stderr)) {
        stopped = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', rej);
    child.on('close', (code) => res({ code, stderr }));
  });
}

describe.skipIf(!enabled)('continual benchmark --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-continual-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'stops on Ctrl-C, resumes, and writes the matrices, routing, costs, report and charts',
    async () => {
      const out = join(dir, 'results');
      const args = ['--quick', '--model', SHIPPED, '--preset', 'casam-tiny', '--out', out];
      const missing = await bench(['--quick', '--model', join(dir, 'nope.safetensors'), '--out', out]);
      expect(missing.code).toBe(4);
      expect(missing.stderr).toMatch(/not found/);

      const first = await bench(args, /CA-SAM order 1\/3 task 2\/9/);
      expect(first.code, first.stderr).toBe(130);
      expect(first.stderr).toMatch(/stopped: .*run it again/);
      const state = JSON.parse(readFileSync(join(out, 'continual-quick.state.json'), 'utf8')) as {
        casamTasks: Record<string, unknown>;
      };
      expect(Object.keys(state.casamTasks)).toEqual(['0:acdc-cardiac-mr']);

      const second = await bench(args);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).not.toMatch(/CA-SAM order 1\/3 task 1\/9/); // finished units are not redone
      // Every order trains its own set of CA-SAM layers, with its own seeds.
      const done = JSON.parse(readFileSync(join(out, 'continual-quick.state.json'), 'utf8')) as {
        casamTasks: Record<string, { adapterPath: string }>;
        decoderTasks: Record<string, { adapterPath: string; decoderParameters: number }>;
      };
      expect(Object.keys(done.casamTasks)).toHaveLength(27);
      expect(new Set(Object.values(done.casamTasks).map((t) => t.adapterPath)).size).toBe(27);
      // The decoder-adapter arm: one set (paper order), its own adapters, each with a delta.
      expect(Object.keys(done.decoderTasks)).toHaveLength(9);
      const paths = [...Object.values(done.casamTasks), ...Object.values(done.decoderTasks)].map(
        (t) => t.adapterPath,
      );
      expect(new Set(paths).size).toBe(36);
      for (const t of Object.values(done.decoderTasks)) expect(t.decoderParameters).toBeGreaterThan(0);

      const r = JSON.parse(readFileSync(join(out, 'continual-quick.json'), 'utf8')) as {
        quick: boolean;
        zeroShot: Record<string, { frozenIou: number; boxFillIou: number }>;
        methods: Record<
          string,
          {
            orders: { order: string[]; matrix: number[][]; summary: { avgIou: number } }[];
            spread: unknown;
            finalByTaskMean: Record<string, number> | null;
          }
        >;
        casam: {
          routingByOrder: { stages: unknown[] }[];
          finalByOrder: { index: number }[];
          unseen: { fallbackRate: number; iou: number; frozenIou: number };
        };
        decoderAdapter: {
          rank: number;
          routing: {
            routingByOrder: { stages: unknown[] }[];
            finalByOrder: { index: number }[];
            unseen: { fallbackRate: number };
          };
        };
        cost: Record<string, { trainableParameters: number }>;
        alStep: { stepMs: number; encoderMsPerImage: number };
        mustShow: { claim: string; value: string; pass: boolean | null }[];
      };
      expect(r.quick).toBe(true);
      expect(Object.keys(r.zeroShot)).toHaveLength(12);
      expect(Object.keys(r.methods).sort()).toEqual([
        'casam',
        'casamDecoder',
        'ewc',
        'frozen',
        'joint',
        'sequential',
      ]);
      for (const [name, m] of Object.entries(r.methods)) {
        // The decoder-adapter arm trains a set for the paper order only.
        expect(m.orders).toHaveLength(name === 'casamDecoder' ? 1 : 3);
        if (name === 'joint') continue;
        for (const o of m.orders) {
          expect(o.matrix).toHaveLength(9);
          o.matrix.forEach((row, t) => expect(row).toHaveLength(t + 1));
          for (const v of o.matrix.flat()) expect(v).toBeGreaterThanOrEqual(0);
        }
      }
      expect(new Set(r.methods['casam'].orders.map((o) => o.order.join())).size).toBe(3);
      expect(r.casam.routingByOrder[0].stages).toHaveLength(9);
      expect(r.casam.finalByOrder.map((x) => x.index)).toEqual([0, 1, 2]);
      expect(Object.keys(r.methods['casam'].finalByTaskMean ?? {})).toHaveLength(9);
      expect(r.cost['casam'].trainableParameters).toBeGreaterThan(r.cost['sequential'].trainableParameters);
      expect(r.decoderAdapter.rank).toBe(4);
      expect(r.decoderAdapter.routing.routingByOrder[0].stages).toHaveLength(9);
      expect(r.decoderAdapter.routing.finalByOrder.map((x) => x.index)).toEqual([0]);
      expect(r.cost['casamDecoder'].trainableParameters).toBeGreaterThan(
        r.cost['casam'].trainableParameters / 3,
      );
      expect(r.alStep.stepMs).toBeGreaterThan(0);
      // The paper's 14 claims, then issue 19's five thresholds, each measured (none left pending at the end).
      expect(r.mustShow).toHaveLength(19);
      expect(r.mustShow.filter((c) => c.claim.startsWith('issue 19:'))).toHaveLength(5);
      for (const c of r.mustShow) expect(c.value, c.claim).not.toBe('pending');
      expect(r.mustShow.find((c) => /routing accuracy ≥ 97%/.test(c.claim))!.value).toMatch(
        /^paper \(default\) \d+\.\d\d%, score-over-tau \d+\.\d\d%, z-score \d+\.\d\d% \(the default on the paper order's set alone: \d+\.\d\d%\)$/,
      );
      expect(r.mustShow.find((c) => /frozen SAM zero-shot/.test(c.claim))!.value).toMatch(
        /^\d\.\d{3} vs \d\.\d{3}, at or above box-fill on \d+ of 12$/,
      );

      const md = readFileSync(join(out, 'continual-quick.md'), 'utf8');
      expect(md).toMatch(/box-fill \(reference\)/);
      for (const png of [
        'avg-iou',
        'cost',
        'matrix-casam',
        'matrix-casamDecoder',
        'matrix-sequential',
        'matrix-ewc',
        'matrix-frozen',
        'matrix-joint',
      ]) {
        const img = decodeImage(readFileSync(join(out, `continual-quick-${png}.png`)));
        expect(img.width).toBeGreaterThan(100);
      }
      expect(md).toContain(`\`npm run bench:continual -- ${args.join(' ')}\` — 2`);

      // Rewriting the report from the saved state names the run's command and says it is a rewrite.
      const rewrite = await bench([...args, '--report-only']);
      expect(rewrite.code, rewrite.stderr).toBe(0);
      expect(rewrite.stderr).not.toMatch(/CA-SAM order/);
      const md2 = readFileSync(join(out, 'continual-quick.md'), 'utf8');
      expect(md2).toContain(`\`npm run bench:continual -- ${args.join(' ')}\` — report rewritten`);
      expect(md2).toContain('| CA-SAM (per-task AL + VAE routing) |');
      expect(md2).toContain('## CA-SAM + decoder adapter routing');
    },
    40 * 60_000,
  );
});
