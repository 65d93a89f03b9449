/**
 * `npm run bench:federation -- --quick`, black-box: 3 real site-agent daemons and 10 simulated sites converge on a
 * new bundle, `site-agent serve` keeps answering through the swap with no failed request, and the JSON says so.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runProcess } from './support/site-agent-cli';

const root = resolve(__dirname, '../..');

interface Phase {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: number;
}

interface FederationResult {
  benchmark: string;
  quick: boolean;
  convergence: {
    sites: number;
    kind: string;
    processes: number;
    bundleVersion: number;
    converged: number;
    allConverged: boolean;
    p50Seconds: number;
    allSeconds: number;
    coordinatorSawNewBundle: number;
    failures: string[];
    coordinatorPeakRssMiB: number;
    sitePeakRssMiB: number;
  }[];
  segmentDuringSwap: {
    bundleBefore: number;
    bundleAfter: number;
    swapSeconds: number;
    before: Phase;
    during: Phase;
    failures: number;
    servePeakRssMiB: number;
  };
  memory: Record<string, number>;
  ok: boolean;
  problems: string[];
}

const bench = (args: string[]) =>
  runProcess(process.execPath, ['--import', 'tsx', 'bench/federation.bench.ts', ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '' },
  });

describe('federation benchmark --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-fedbench-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses an unknown flag and --out without a file, with the usage', async () => {
    for (const args of [['--bogus'], ['--quick', '--out']]) {
      const r = await bench(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/usage: npm run bench:federation -- \[--quick\] \[--out <file>\]/);
    }
  });

  it(
    'every site converges on the new bundle and no segmentation request fails during the swap',
    async () => {
      const out = join(dir, 'federation.json');
      const run = await bench(['--quick', '--out', out]);
      expect(run.code, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`).toBe(0);
      expect(run.stdout).toMatch(/Time from adapter approval to every site running the new bundle/);
      expect(run.stderr).toMatch(/bundle \d+: 10\/10 sites running it/);

      const r = JSON.parse(readFileSync(out, 'utf8')) as FederationResult;
      expect(r).toMatchObject({ benchmark: 'federation', quick: true, ok: true, problems: [] });
      expect(r.convergence.map((c) => [c.sites, c.kind])).toEqual([
        [3, 'daemon'],
        [10, 'simulated'],
      ]);
      for (const c of r.convergence) {
        expect(c.converged).toBe(c.sites);
        expect(c.allConverged).toBe(true);
        expect(c.coordinatorSawNewBundle).toBe(c.sites);
        expect(c.failures).toEqual([]);
        expect(c.bundleVersion).toBe(2); // one warm-up bundle, then the measured one
        expect(c.allSeconds).toBeGreaterThan(0);
        expect(c.allSeconds).toBeGreaterThanOrEqual(c.p50Seconds);
        expect(c.coordinatorPeakRssMiB).toBeGreaterThan(0);
        expect(c.sitePeakRssMiB).toBeGreaterThan(0);
      }
      expect(r.convergence[0].processes).toBe(3);

      const swap = r.segmentDuringSwap;
      expect(swap).toMatchObject({ bundleBefore: 1, bundleAfter: 2, failures: 0 });
      expect(swap.before.failures + swap.during.failures).toBe(0);
      expect(swap.before.requests).toBeGreaterThanOrEqual(8);
      expect(swap.during.requests).toBeGreaterThanOrEqual(5);
      for (const p of [swap.before, swap.during]) {
        expect(p.p50Ms).toBeGreaterThan(0);
        expect(p.p99Ms).toBeGreaterThanOrEqual(p.p50Ms);
      }
      expect(swap.swapSeconds).toBeGreaterThan(0);
      for (const k of [
        'coordinatorPeakRssMiB',
        'daemonPeakRssMiB',
        'servePeakRssMiB',
        'simulatedWorkerPeakRssMiB',
      ])
        expect(r.memory[k]).toBeGreaterThan(0);
    },
    20 * 60_000,
  );
});
