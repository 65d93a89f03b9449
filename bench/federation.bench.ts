/**
 * `npm run bench:federation` — how fast a federation converges on a new router bundle, and what a site's
 * segmentation service feels while it swaps bundles. Prints tables and writes bench/results/federation.json.
 *
 *   convergence   time from an admin approving an adapter to every one of N sites running the bundle that
 *                 approval published, for N = 3, 30 and 300, each on a fresh coordinator process (embedded
 *                 database). N = 3 are real `site-agent daemon` processes (TF.js, wasm); the larger N are
 *                 simulated sites, several per worker process (bench/federation-sites.worker.ts): each a real
 *                 enrolled site with its own Ed25519 key, token exchange, socket.io connection to /v1 and bundle
 *                 download + verification, all through the site agent's own code (FleetConnection, pullBundle).
 *                 A first bundle is published and installed everywhere before the measured one (steady state).
 *                 The coordinator's own view (each site's reported bundle) is checked at the end.
 *   swap latency  `site-agent serve` on one daemon site's home answers segmentation requests back to back while
 *                 the measured bundle is published, pulled by that site's daemon and swapped in: p50/p99 before
 *                 and during the swap, and every failed request counted (must be 0).
 *   memory        peak RSS (VmHWM) of the coordinator, the daemons, the serve process and the simulated-site
 *                 workers.
 *
 * Flags: --quick (N = 3 and 10, fewer requests) for a fast check; --out <file> (default
 * bench/results/federation.json, or federation.quick.json with --quick); --help. Exits 1 after writing the results
 * when a site did not converge or a request failed, 2 on a usage error.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  encodeRgbPng,
  getPreset,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadSamWeights,
  randomSamStateDict,
  stateDictFingerprint,
  writeAdapterFile,
  writeSafetensors,
} from '@casam/casam-core';
import {
  type BundleDetail,
  type CompleteUploadResponse,
  type CreatedEnrollmentToken,
  type SiteSummary,
} from '@casam/protocol';
import {
  CliUsageError,
  failUsage,
  LoadCheckpoints,
  machineInfo,
  machineSummary,
  parseCliArgs,
} from '@casam/casam-lab';
import { type CoordinatorProcess, enrollHttpSite, startCoordinatorProcess } from '@casam/coordinator/testing';
import type { FromWorker, ToWorker } from './federation-sites.worker';

const USAGE = `usage: npm run bench:federation -- [--quick] [--out <file>]
  --quick        N = 3 and 10 sites, fewer requests: a fast check
  --out <file>   result file (default bench/results/federation.json, federation.quick.json with --quick)
  --help, -h     print this text`;

const { QUICK, OUT } = ((): { QUICK: boolean; OUT: string } => {
  const v = parseCliArgs(USAGE, { quick: { type: 'boolean', default: false }, out: { type: 'string' } });
  try {
    if (v.out === '') throw new CliUsageError('--out needs a file');
    return { QUICK: v.quick, OUT: v.out === undefined ? '' : resolve(v.out) };
  } catch (e) {
    return failUsage(e, USAGE);
  }
})();
const root = resolve(__dirname, '..');
const AGENT_BIN = join(root, 'apps/site-agent/bin/site-agent.js');
const WORKER = join(__dirname, 'federation-sites.worker.ts');
const SITES_PER_WORKER = 75;
const cfg = QUICK
  ? { sizes: [3, 10], requestsBefore: 8, requestsAfterSwap: 5, timeoutMs: 180_000 }
  : { sizes: [3, 30, 300], requestsBefore: 40, requestsAfterSwap: 20, timeoutMs: 600_000 };

const log = (s: string) => process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Peak resident set (VmHWM) of a live process, in MiB (Linux). */
function peakRssMiB(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 0) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Resolves with `get()` once it is not undefined (checked on every `ev` event); rejects when `get` throws or after
 * `ms`.
 */
function until<T>(ev: EventEmitter, get: () => T | undefined, ms: number, what: string): Promise<T> {
  return new Promise((res, rej) => {
    const check = () => {
      let v: T | undefined;
      try {
        v = get();
      } catch (e) {
        cleanup();
        rej(e as Error);
        return;
      }
      if (v === undefined) return;
      cleanup();
      res(v);
    };
    const t = setTimeout(() => {
      cleanup();
      rej(new Error(`timed out after ${ms / 1000} s waiting for ${what}`));
    }, ms);
    const cleanup = () => {
      clearTimeout(t);
      ev.off('change', check);
    };
    ev.on('change', check);
    check();
  });
}

/** Runs a process to completion; throws with its output on a non-zero exit. */
function runToEnd(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<string> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', rej);
    c.once('close', (code) =>
      code === 0
        ? res(out)
        : rej(new Error(`${args.slice(1, 3).join(' ')} exited ${code}:\n${out.slice(-2000)}`)),
    );
    c.stdin.end(stdin);
  });
}

/** A long-running child whose combined output is kept and watched. */
interface Watched {
  child: ChildProcess;
  out(): string;
  changes: EventEmitter;
  stop(): Promise<void>;
}

function watch(child: ChildProcess): Watched {
  let out = '';
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const on = (d: Buffer) => {
    out += d.toString();
    changes.emit('change');
  };
  child.stdout?.on('data', on);
  child.stderr?.on('data', on);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => changes.emit('change'));
  return {
    child,
    out: () => out,
    changes,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Coordinator and the admin
// ---------------------------------------------------------------------------------------------------------

async function startCoordinator(): Promise<CoordinatorProcess> {
  return startCoordinatorProcess({
    env: {
      COORDINATOR_LOG_LEVEL: 'log',
      // Hundreds of sites exchange tokens within seconds from one address.
      COORDINATOR_AUTH_RATE_PER_MINUTE: '1000000',
      COORDINATOR_AUTH_RATE_BURST: '1000000',
    },
    adminEmail: 'ops@example.org',
    nodeArgs: ['--max-old-space-size=4096'],
    listenTimeoutMs: 60_000,
  });
}

// ---------------------------------------------------------------------------------------------------------
// The publishing site: proposes one task and uploads its adapter versions (plain HTTP, signed with jose)
// ---------------------------------------------------------------------------------------------------------

interface Publisher {
  taskId: string;
  /** Uploads adapter version `seed` (real initial weights for casam-tiny); returns its adapter version id. */
  upload(seed: number): Promise<string>;
}

async function makePublisher(c: CoordinatorProcess, baseFingerprint: string): Promise<Publisher> {
  const site = await enrollHttpSite(c, 'publishing site');
  await c.admin('POST', `/api/v1/sites/${site.siteId}/approve`, { keyFingerprint: site.fingerprint });
  const task = await site.proposeTask('bench-liver', 'casam-tiny', baseFingerprint);
  await c.admin('POST', `/api/v1/tasks/${task.id}/approve`);
  return {
    taskId: task.id,
    async upload(seed) {
      const bytes = writeAdapterFile({
        taskId: task.id,
        baseModel: { preset: 'casam-tiny', fingerprint: baseFingerprint },
        tau: { tau: 1, p95: 1, p99: 1.2, mean: 0.5, std: 0.2, n: 100, percentile: 97 },
        metrics: { iou: 0.8 },
        align: initialAlignmentStateDict(64, seed),
        vae: initialTaskVaeStateDict(64, seed),
      });
      const r = await site.uploadBytes(task.id, bytes);
      if (r.step !== 'complete' || r.status !== 200)
        throw new Error(`upload ${r.step}: ${r.status} ${JSON.stringify(r.body)}`);
      return (r.body as CompleteUploadResponse).adapter.id;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Sites: real daemons or simulated ones; both report installs into one table of times
// ---------------------------------------------------------------------------------------------------------

interface Fleet {
  kind: 'daemon' | 'simulated';
  processes: number;
  /** Install time (ms since epoch) per site index and bundle version. */
  installs: Map<number, Map<number, number>>;
  siteIds: string[];
  failures: string[];
  changes: EventEmitter;
  peakRssMiB(): number;
  stop(): Promise<void>;
}

async function daemonFleet(
  c: CoordinatorProcess,
  n: number,
  weights: string,
  dir: string,
): Promise<Fleet & { homes: string[] }> {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const installs = new Map<number, Map<number, number>>();
  const homes: string[] = [];
  const siteIds: string[] = [];
  const procs: Watched[] = [];
  let stopping = false;
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    const home = join(dir, `daemon-${i}`);
    homes.push(home);
    const env = { CASAM_AGENT_HOME: home, CASAM_BACKEND: 'wasm' };
    const init = await runToEnd(
      [
        AGENT_BIN,
        'init',
        '--coordinator',
        c.url,
        '--site-name',
        `daemon site ${i}`,
        '--preset',
        'casam-tiny',
        '--weights',
        weights,
      ],
      env,
    );
    const fingerprint = /fingerprint: (\S+)/.exec(init)![1];
    const token = await c.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {});
    await runToEnd([AGENT_BIN, 'enroll', '--token', token.token], env);
    const siteId = (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { siteId: string }).siteId;
    await c.admin('POST', `/api/v1/sites/${siteId}/approve`, { keyFingerprint: fingerprint });
    siteIds.push(siteId);
    log(`  daemon site ${i + 1}/${n} enrolled and approved`);
  }
  for (const [i, home] of homes.entries()) {
    const p = watch(
      spawn(process.execPath, [AGENT_BIN, 'daemon'], {
        env: { ...process.env, CASAM_AGENT_HOME: home, CASAM_BACKEND: 'wasm' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    procs.push(p);
    p.child.once('exit', (code) => {
      if (!stopping) failures.push(`daemon ${i} exited (${code}):\n${p.out().slice(-1500)}`);
      changes.emit('change');
    });
    installs.set(i, new Map());
    p.changes.on('change', () => {
      const now = Date.now();
      for (const m of p.out().matchAll(/installed bundle (\d+)/g)) {
        const v = Number(m[1]);
        if (!installs.get(i)!.has(v)) installs.get(i)!.set(v, now);
      }
      for (const m of p.out().matchAll(/bundle refused \[(\S+)\]/g))
        if (!failures.includes(`daemon ${i}: ${m[1]}`)) failures.push(`daemon ${i}: ${m[1]}`);
      changes.emit('change');
    });
  }
  for (const [i, p] of procs.entries())
    await until(
      p.changes,
      () => {
        if (p.child.exitCode !== null) throw new Error(`daemon ${i} exited:\n${p.out()}`);
        return /connected to the coordinator/.test(p.out()) || undefined;
      },
      120_000,
      `daemon ${i} to connect`,
    );
  return {
    kind: 'daemon',
    processes: n,
    installs,
    siteIds,
    failures,
    changes,
    homes,
    peakRssMiB: () => Math.max(...procs.map((p) => peakRssMiB(p.child.pid))),
    stop: async () => {
      stopping = true;
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
}

async function simulatedFleet(c: CoordinatorProcess, n: number, baseFingerprint: string): Promise<Fleet> {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const installs = new Map<number, Map<number, number>>();
  const failures: string[] = [];
  const connected = new Set<number>();
  const siteIds: string[] = new Array<string>(n);
  const workers: ChildProcess[] = [];
  const enrolled: number[] = [];
  const approvals: Promise<unknown>[] = [];
  let stopping = false;
  const workerCount = Math.ceil(n / SITES_PER_WORKER);
  for (let w = 0; w < workerCount; w++) {
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m: FromWorker) => {
      if (m.type === 'enrolled') {
        for (const s of m.sites) siteIds[s.index] = s.siteId;
        enrolled.push(w);
        for (const s of m.sites)
          approvals.push(
            c
              .admin('POST', `/api/v1/sites/${s.siteId}/approve`, { keyFingerprint: s.fingerprint })
              .catch((e: unknown) => failures.push(`approve site ${s.index}: ${(e as Error).message}`)),
          );
      } else if (m.type === 'connected') connected.add(m.index);
      else if (m.type === 'installed') {
        if (!installs.has(m.index)) installs.set(m.index, new Map());
        if (!installs.get(m.index)!.has(m.version)) installs.get(m.index)!.set(m.version, m.at);
      } else if (m.type === 'refused') failures.push(`site ${m.index}: ${m.code}: ${m.message}`);
      else if (m.type === 'error') failures.push(`worker ${w}: ${m.message}`);
      changes.emit('change');
    });
    child.once('exit', (code) => {
      if (!stopping) failures.push(`simulated-site worker ${w} exited (${code})`);
      changes.emit('change');
    });
    workers.push(child);
  }
  const tokens: string[] = [];
  for (let i = 0; i < n; i++)
    tokens.push((await c.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {})).token);
  workers.forEach((child, w) => {
    const sites = [];
    for (let i = w * SITES_PER_WORKER; i < Math.min(n, (w + 1) * SITES_PER_WORKER); i++)
      sites.push({ index: i, name: `simulated site ${i}`, enrollmentToken: tokens[i] });
    child.send({
      type: 'enroll',
      url: c.url,
      baseModelFingerprint: baseFingerprint,
      sites,
    } satisfies ToWorker);
  });
  const failed = () => {
    if (failures.length) throw new Error(failures.join('\n'));
  };
  await until(changes, () => (failed(), enrolled.length === workerCount || undefined), 300_000, 'enrollment');
  await Promise.all(approvals);
  failed();
  log(`  ${n} simulated sites enrolled and approved (${workerCount} worker process(es))`);
  for (const child of workers) child.send({ type: 'connect' } satisfies ToWorker);
  await until(changes, () => (failed(), connected.size === n || undefined), 300_000, 'every site to connect');
  log(`  ${n} simulated sites connected to /v1`);
  return {
    kind: 'simulated',
    processes: workerCount,
    installs,
    siteIds,
    failures,
    changes,
    peakRssMiB: () => Math.max(...workers.map((w) => peakRssMiB(w.pid))),
    stop: async () => {
      stopping = true;
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((r) => {
              if (w.exitCode !== null) return r();
              w.once('exit', () => r());
              w.send({ type: 'stop' } satisfies ToWorker);
            }),
        ),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Segmentation requests against `site-agent serve` across a bundle swap
// ---------------------------------------------------------------------------------------------------------

interface Served {
  at: number;
  ms: number;
  ok: boolean;
  bundleVersion: number | null;
  error?: string;
}

interface LoadGenerator {
  results: Served[];
  changes: EventEmitter;
  stop(): Promise<void>;
}

/** One client sending segmentation requests back to back until stopped. */
function fireContinuously(url: string, png: Uint8Array): LoadGenerator {
  const results: Served[] = [];
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const a = performance.now();
      const at = Date.now();
      try {
        const r = await fetch(`${url}/v1/segment?box=20,20,100,100`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: png,
        });
        const body = (await r.json()) as { bundleVersion?: number | null; error?: { code: string } };
        results.push({
          at,
          ms: performance.now() - a,
          ok: r.status === 200,
          bundleVersion: body.bundleVersion ?? null,
          error: r.status === 200 ? undefined : `${r.status} ${body.error?.code}`,
        });
      } catch (e) {
        results.push({
          at,
          ms: performance.now() - a,
          ok: false,
          bundleVersion: null,
          error: (e as Error).message,
        });
      }
      changes.emit('change');
    }
  })();
  return {
    results,
    changes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

interface LatencyPhase {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: number;
}

const phase = (rs: Served[]): LatencyPhase => {
  const ms = rs.map((r) => r.ms);
  return {
    requests: rs.length,
    p50Ms: round(pct(ms, 50)),
    p99Ms: round(pct(ms, 99)),
    maxMs: round(Math.max(...ms)),
    failures: rs.filter((r) => !r.ok).length,
  };
};

// ---------------------------------------------------------------------------------------------------------
// One row: a fresh coordinator, N sites, a warm-up bundle, then the measured one
// ---------------------------------------------------------------------------------------------------------

interface ConvergenceRow {
  sites: number;
  kind: 'daemon' | 'simulated';
  processes: number;
  bundleVersion: number;
  bundleBytes: number;
  converged: number;
  allConverged: boolean;
  p50Seconds: number;
  p90Seconds: number;
  allSeconds: number;
  /** Sites whose reported bundle (their presence, as admins see it) was the new one at the end. */
  coordinatorSawNewBundle: number;
  failures: string[];
  coordinatorPeakRssMiB: number;
  sitePeakRssMiB: number;
}

interface SwapResult {
  site: string;
  bundleBefore: number;
  bundleAfter: number;
  swapSeconds: number;
  before: LatencyPhase;
  during: LatencyPhase;
  failures: number;
  errors: string[];
  servePeakRssMiB: number;
}

async function publishAndWait(
  c: CoordinatorProcess,
  pub: Publisher,
  fleet: Fleet,
  n: number,
  seed: number,
): Promise<{ t0: number; bundle: BundleDetail; times: number[] }> {
  const adapterId = await pub.upload(seed);
  const t0 = Date.now();
  await c.admin('POST', `/api/v1/adapters/${adapterId}/approve`);
  const bundle = await c.admin<BundleDetail>('GET', '/api/v1/bundles/latest');
  const v = bundle.version;
  const have = () => [...fleet.installs.values()].filter((m) => m.has(v)).length;
  let last = -1;
  const failuresBefore = fleet.failures.length;
  await until(
    fleet.changes,
    () => {
      if (fleet.failures.length > failuresBefore)
        throw new Error(`stopped waiting for bundle ${v}: a site failed (see the failures above)`);
      const k = have();
      if (k !== last && (k === n || k % Math.max(1, Math.floor(n / 10)) === 0)) {
        last = k;
        log(`  bundle ${v}: ${k}/${n} sites running it (${round((Date.now() - t0) / 1000, 1)} s)`);
      }
      return k === n || undefined;
    },
    cfg.timeoutMs,
    `all ${n} sites to install bundle ${v}`,
  ).catch((e: unknown) => fleet.failures.push((e as Error).message));
  const times = [...fleet.installs.values()].flatMap((m) => (m.has(v) ? [(m.get(v)! - t0) / 1000] : []));
  return { t0, bundle, times };
}

async function runRow(
  n: number,
  kind: 'daemon' | 'simulated',
  weights: string,
  baseFingerprint: string,
  png: Uint8Array,
): Promise<{ row: ConvergenceRow; swap?: SwapResult }> {
  log(`\n${n} ${kind === 'daemon' ? 'site-agent daemon processes' : 'simulated sites'}: fresh coordinator…`);
  const dir = mkdtempSync(join(tmpdir(), 'casam-bench-fed-'));
  const c = await startCoordinator();
  let fleet: Fleet | undefined;
  let serve: Watched | undefined;
  let load: LoadGenerator | undefined;
  try {
    const pub = await makePublisher(c, baseFingerprint);
    const daemons = kind === 'daemon' ? await daemonFleet(c, n, weights, dir) : undefined;
    fleet = daemons ?? (await simulatedFleet(c, n, baseFingerprint));

    log('  warm-up: a first bundle, installed everywhere');
    const warm = await publishAndWait(c, pub, fleet, n, 1);
    if (fleet.failures.length) throw new Error(`warm-up failed:\n${fleet.failures.join('\n')}`);

    let serveUrl = '';
    if (daemons) {
      serve = watch(
        spawn(process.execPath, [AGENT_BIN, 'serve', '--port', '0'], {
          env: { ...process.env, CASAM_AGENT_HOME: daemons.homes[0], CASAM_BACKEND: 'wasm' },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      const s = serve;
      serveUrl = await until(
        s.changes,
        () => {
          if (s.child.exitCode !== null) throw new Error(`serve exited:\n${s.out()}`);
          return /serving on (http:\/\/\S+)/.exec(s.out())?.[1];
        },
        120_000,
        'serve to listen',
      );
      // One request first: it warms up the TF.js kernels, a one-off cost that is not a swap cost.
      const first = await fetch(`${serveUrl}/v1/segment?box=20,20,100,100`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      if (!first.ok) throw new Error(`serve: first request failed: ${first.status} ${await first.text()}`);
      load = fireContinuously(serveUrl, png);
      const l = load;
      await until(
        l.changes,
        () => l.results.length >= cfg.requestsBefore || undefined,
        300_000,
        'requests before the swap',
      );
      log(
        `  serve: ${l.results.length} requests on bundle ${warm.bundle.version}; publishing the next bundle under load`,
      );
    }

    const measured = await publishAndWait(c, pub, fleet, n, 2);
    const v = measured.bundle.version;

    let swap: SwapResult | undefined;
    if (load && serve) {
      const l = load;
      await until(
        l.changes,
        () => l.results.filter((r) => r.bundleVersion === v).length >= cfg.requestsAfterSwap || undefined,
        300_000,
        `serve to answer on bundle ${v}`,
      ).catch((e: unknown) => fleet!.failures.push((e as Error).message));
      await l.stop();
      const before = l.results.filter((r) => r.at < measured.t0);
      const firstNew = l.results.find((r) => r.bundleVersion === v);
      const during = l.results.filter((r) => r.at >= measured.t0);
      const failures = l.results.filter((r) => !r.ok);
      swap = {
        site: 'daemon site 0 (site-agent serve on the daemon home)',
        bundleBefore: warm.bundle.version,
        bundleAfter: v,
        swapSeconds: firstNew ? round((firstNew.at - measured.t0) / 1000, 2) : NaN,
        before: phase(before),
        during: phase(during),
        failures: failures.length,
        errors: [...new Set(failures.map((f) => f.error ?? ''))],
        servePeakRssMiB: peakRssMiB(serve.child.pid),
      };
    }

    // The coordinator's view: every site reported the new bundle (status reports follow each install).
    let saw = 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const list = await c.admin<SiteSummary[]>('GET', '/api/v1/sites?status=approved');
      saw = list.filter((s) => fleet!.siteIds.includes(s.id) && s.presence.bundleVersion === v).length;
      if (saw === n || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250)); // reports are asynchronous; poll the admin API briefly
    }

    const t = measured.times;
    const row: ConvergenceRow = {
      sites: n,
      kind,
      processes: fleet.processes,
      bundleVersion: v,
      bundleBytes: measured.bundle.size,
      converged: t.length,
      allConverged: t.length === n,
      p50Seconds: round(pct(t, 50), 2),
      p90Seconds: round(pct(t, 90), 2),
      allSeconds: t.length === n ? round(Math.max(...t), 2) : NaN,
      coordinatorSawNewBundle: saw,
      failures: [...fleet.failures],
      coordinatorPeakRssMiB: peakRssMiB(c.child.pid),
      sitePeakRssMiB: fleet.peakRssMiB(),
    };
    log(
      `  → ${row.converged}/${n} on bundle ${v}: p50 ${row.p50Seconds} s, all ${row.allSeconds} s; coordinator sees ${saw}/${n}`,
    );
    return { row, swap };
  } finally {
    await load?.stop();
    await serve?.stop();
    await fleet?.stop();
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const load = new LoadCheckpoints();
  log(`bench:federation${QUICK ? ' --quick' : ''} on ${machineSummary()}`);
  const work = mkdtempSync(join(tmpdir(), 'casam-bench-fed-model-'));
  const rows: ConvergenceRow[] = [];
  let swap: SwapResult | undefined;
  try {
    // A casam-tiny base model with seeded random weights: convergence does not depend on what it learned.
    const weights = join(work, 'casam-tiny-bench.safetensors');
    const preset = getPreset('casam-tiny');
    writeFileSync(weights, writeSafetensors([...randomSamStateDict(preset, 11).entries()]));
    const baseFingerprint = stateDictFingerprint(loadSamWeights(weights, preset));
    const png = encodeRgbPng({
      width: 128,
      height: 128,
      data: new Uint8Array(128 * 128 * 3).map((_, i) => (i * 7 + (i >> 9)) % 251),
    });
    for (const n of cfg.sizes) {
      const r = await runRow(n, n === 3 ? 'daemon' : 'simulated', weights, baseFingerprint, png);
      rows.push(r.row);
      swap ??= r.swap;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  console.log('\nTime from adapter approval to every site running the new bundle');
  console.table(
    rows.map((r) => ({
      sites: r.sites,
      kind: r.kind === 'daemon' ? 'site-agent daemon processes' : `simulated (${r.processes} worker proc.)`,
      converged: `${r.converged}/${r.sites}`,
      'p50 s': r.p50Seconds,
      'p90 s': r.p90Seconds,
      'all s': r.allSeconds,
      'coordinator sees': `${r.coordinatorSawNewBundle}/${r.sites}`,
      'bundle KiB': round(r.bundleBytes / 1024, 0),
      'coord. RSS MiB': r.coordinatorPeakRssMiB,
      'site proc. RSS MiB': r.sitePeakRssMiB,
    })),
  );
  if (swap) {
    console.log(
      `\nSegmentation at ${swap.site} while bundle ${swap.bundleBefore} → ${swap.bundleAfter} is published and swapped in (swap seen ${swap.swapSeconds} s after approval)`,
    );
    console.table({ before: swap.before, during: swap.during });
    console.log(`failed requests: ${swap.failures}`);
  }
  const memory = {
    coordinatorPeakRssMiB: Math.max(...rows.map((r) => r.coordinatorPeakRssMiB)),
    daemonPeakRssMiB: Math.max(...rows.filter((r) => r.kind === 'daemon').map((r) => r.sitePeakRssMiB)),
    servePeakRssMiB: swap?.servePeakRssMiB ?? NaN,
    simulatedWorkerPeakRssMiB: Math.max(
      ...rows.filter((r) => r.kind === 'simulated').map((r) => r.sitePeakRssMiB),
    ),
    simulatedSitesPerWorker: SITES_PER_WORKER,
  };
  console.log(
    `\npeak RSS (VmHWM): coordinator ${memory.coordinatorPeakRssMiB} MiB, site-agent daemon ${memory.daemonPeakRssMiB} MiB, serve ${memory.servePeakRssMiB} MiB, simulated-site worker (≤ ${SITES_PER_WORKER} sites) ${memory.simulatedWorkerPeakRssMiB} MiB`,
  );

  const problems = [
    ...rows
      .filter((r) => !r.allConverged)
      .map((r) => `${r.sites} ${r.kind} sites: only ${r.converged} converged`),
    ...rows.flatMap((r) => r.failures),
    ...(swap && swap.failures > 0
      ? [`${swap.failures} segmentation request(s) failed: ${swap.errors.join('; ')}`]
      : []),
    ...(swap ? [] : ['no swap-latency measurement (no daemon row)']),
  ];
  load.mark('end');
  const result = {
    benchmark: 'federation',
    quick: QUICK,
    date: new Date().toISOString(),
    machine: machineInfo({ load }),
    notes: [
      'Each row runs on a fresh coordinator process (embedded PGlite) on the same machine as every site.',
      'kind "daemon": real `site-agent daemon` processes (TF.js wasm). kind "simulated": real enrolled sites (own Ed25519 key, token exchange, socket.io /v1, bundle download and verification through the site agent\'s FleetConnection and pullBundle) without the ML, several per worker process.',
      'Times run from the admin\'s approve call to each site\'s install (daemon: its "installed bundle" log line; simulated: after pullBundle verified and installed it). One warm-up bundle precedes the measured one.',
      'Swap latency: after one warm-up request, one client sends segmentation requests back to back to `site-agent serve` on a daemon site\'s home; "during" is from the approval until the server has answered on the new bundle.',
      'Other jobs (model pretraining, tests) may share the machine: compare runs on an idle machine before drawing conclusions.',
    ],
    convergence: rows,
    segmentDuringSwap: swap ?? null,
    memory,
    ok: problems.length === 0,
    problems,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const out = OUT || join(__dirname, 'results', QUICK ? 'federation.quick.json' : 'federation.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${out} (${result.seconds} s)`);
  if (problems.length) {
    console.error(`\nFAILED:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
