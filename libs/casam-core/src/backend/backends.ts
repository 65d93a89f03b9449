/**
 * Runtime choice of the TensorFlow.js backend for a site.
 *
 * Best available first: tfjs-node-gpu (libtensorflow + CUDA) → tfjs-node (libtensorflow, CPU) → wasm (XNNPACK,
 * SIMD, threads) → cpu (plain JS). The two native packages are *optional*: they are not dependencies of this
 * repository (their install step downloads libtensorflow), a GPU site adds one itself:
 *
 *   npm i @tensorflow/tfjs-node-gpu@4.22.0      # exactly the tfjs-core version below
 *
 * Override with `initBackend({ prefer })` or `CASAM_BACKEND=auto|tfjs-node-gpu|tfjs-node|wasm|cpu` (the option
 * wins). An explicitly requested backend that cannot load is an error naming the cause and the install command.
 *
 * One tfjs-core for everything. The model code imports tfjs-core through `sam/tf.ts`; a backend package
 * registers its backend and kernels in tfjs-core's registries. tfjs-core keeps the engine (`_tfengine`), the
 * kernel and gradient registries and the flags on the global object, so even a second, nested copy of
 * tfjs-core that a native package resolves for itself shares them — provided it is the *same version*: the
 * native kernels are compiled against tfjs-core internals, and all tfjs packages are released in lockstep.
 * So before loading @tensorflow/tfjs-node(-gpu) we read the versions it would run with — its own package.json,
 * and the @tensorflow/tfjs-core and @tensorflow/tfjs that Node resolves from its directory — and refuse
 * (explicit request: error; auto: skip, with the reason in the log line) unless all equal `tf.version_core`.
 * After loading we check that its 'tensorflow' backend factory is visible to *our* engine, and run one op.
 */
import * as fs from 'fs';
import * as path from 'path';
import { createRequire } from 'module';
import { tf } from '../sam/tf';
import { registerResizeBilinearGradFix } from './resize-bilinear-grad';
import { registerWasmTrainingKernels } from './wasm-kernels';
import { defaultWasmThreads, MAX_WASM_THREADS, unrefWasmWorkers, withNodeWasmThreads } from './wasm-threads';

export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
export type BackendKind = 'gpu' | 'native' | 'wasm' | 'js';

/** Preference order of `auto`. */
export const BACKEND_NAMES: readonly BackendName[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  kind: BackendKind;
  /** The backend's name inside TensorFlow.js: 'tensorflow' | 'wasm' | 'cpu'. */
  tfBackend: string;
  /** tfjs-core version. */
  version: string;
  /** Version of the backend package (@tensorflow/tfjs-node-gpu, …-node, …-backend-wasm, …-backend-cpu). */
  packageVersion: string;
  /** wasm: XNNPACK threads actually in use. */
  threads?: number;
  /** wasm: whether the SIMD binary is in use. */
  simd?: boolean;
  /** How it was chosen and why better backends were passed over. */
  reason: string;
  /** The line logged: "backend: wasm (tfjs 4.22.0, SIMD, 2 threads) — tfjs-node-gpu not installed, …". */
  summary: string;
}

export interface InitBackendOptions {
  /** Default: `CASAM_BACKEND`, else 'auto'. */
  prefer?: BackendName | 'auto';
  /** Receives the summary line and notes (default: console.log). */
  log?: (line: string) => void;
  /**
   * wasm: XNNPACK threads (1…8). Default: `CASAM_WASM_THREADS` (a number or 'auto'), else every logical CPU up
   * to 8 — except under vitest, where it is 1 (see requestedThreads).
   */
  wasmThreads?: number;
  /**
   * Directories from which the optional native packages are resolved (Node resolution walks up from each).
   * Default: this library, the working directory and the main script's directory.
   */
  searchPaths?: string[];
}

/** A backend that was asked for but cannot run here. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    readonly why: string,
    readonly hint: string,
  ) {
    super(`backend ${backend} unavailable: ${why}. To use it: ${hint}`);
    this.name = 'BackendUnavailableError';
  }
}

export function installHint(name: BackendName): string {
  const v = tf.version_core;
  switch (name) {
    case 'tfjs-node-gpu':
      return (
        `npm i @tensorflow/tfjs-node-gpu@${v} (needs Linux x64 with an NVIDIA driver, CUDA 11.x and cuDNN 8 on ` +
        `the host; the install step downloads libtensorflow 2.9)`
      );
    case 'tfjs-node':
      return `npm i @tensorflow/tfjs-node@${v} (the install step downloads libtensorflow 2.9 for this platform)`;
    case 'wasm':
      return `npm i @tensorflow/tfjs-backend-wasm@${v}`;
    case 'cpu':
      return `npm i @tensorflow/tfjs-backend-cpu@${v}`;
  }
}

function isBackendName(v: string): v is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(v);
}

/** This module's directory (CommonJS), or the working directory where the runtime provides none. */
const HERE = typeof __dirname === 'string' ? __dirname : process.cwd();

function nodeRequire(base?: string): NodeJS.Require {
  return createRequire(base ?? path.join(HERE, 'backends.js'));
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim();
}

function readVersion(packageJson: string): string {
  const parsed = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : 'unknown';
}

/** package.json of `pkg` as Node would resolve it from `from` (a directory), or null. */
function resolvePackageJson(pkg: string, from: string): string | null {
  const req = nodeRequire(path.join(from, 'noop.js'));
  try {
    return req.resolve(`${pkg}/package.json`, { paths: [from] });
  } catch {
    // "exports" may hide package.json: resolve the entry point and walk up to the package root.
    try {
      let dir = path.dirname(req.resolve(pkg, { paths: [from] }));
      while (dir !== path.dirname(dir)) {
        const candidate = path.join(dir, 'package.json');
        if (
          fs.existsSync(candidate) &&
          (JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: unknown }).name === pkg
        ) {
          return candidate;
        }
        dir = path.dirname(dir);
      }
    } catch {
      /* not installed */
    }
    return null;
  }
}

function defaultSearchPaths(): string[] {
  const main = typeof require === 'function' ? require.main?.path : undefined;
  return [...new Set([HERE, process.cwd(), ...(main != null ? [main] : [])])];
}

// ---------------------------------------------------------------------------------------------------------------

interface Request {
  prefer: BackendName | 'auto';
  /** Human-readable origin of the request, for messages. */
  source: string;
}

function resolveRequest(opts: InitBackendOptions): Request {
  if (opts.prefer != null) {
    if (opts.prefer !== 'auto' && !isBackendName(opts.prefer)) {
      throw new Error(
        `initBackend: unknown backend "${String(opts.prefer)}" (use auto, ${BACKEND_NAMES.join(', ')})`,
      );
    }
    return { prefer: opts.prefer, source: `initBackend({ prefer: '${opts.prefer}' })` };
  }
  const env = process.env.CASAM_BACKEND?.trim();
  if (env) {
    if (env !== 'auto' && !isBackendName(env)) {
      throw new Error(`CASAM_BACKEND="${env}" is not one of: auto, ${BACKEND_NAMES.join(', ')}`);
    }
    return { prefer: env, source: `CASAM_BACKEND=${env}` };
  }
  return { prefer: 'auto', source: 'auto' };
}

function requestedThreads(opts: InitBackendOptions): number {
  const raw = opts.wasmThreads ?? (process.env.CASAM_WASM_THREADS?.trim() || undefined);
  // Under the test runner, one thread: the threaded binary pre-starts 8 worker threads (~0.6 s, ~130 MB) per
  // process, and test files run in parallel processes anyway.
  if (raw == null && process.env.VITEST != null) return 1;
  if (raw == null || raw === 'auto') return defaultWasmThreads();
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`wasm threads must be an integer ≥ 1 (got ${String(raw)}; CASAM_WASM_THREADS=auto|1…8)`);
  }
  return Math.min(n, MAX_WASM_THREADS);
}

/** Verifies the backend computes (a native library may load yet fail on first use, e.g. CUDA init). */
function smokeTest(): void {
  const v = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.scalar(3)).dataSync());
  if (v[0] !== 4 || v[1] !== 5) throw new Error(`smoke test gave [${Array.from(v).join(', ')}]`);
}

/** Switches to a registered backend; throws with the engine's reason if its initialisation fails. */
async function activate(tfName: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') failed (see the warning above)`);
}

/**
 * The cpu backend prints "Hi, looks like you are running TensorFlow.js in Node.js. To speed things up
 * dramatically, install our node backend…" on its first tensor. This module makes that choice explicitly and
 * says so in its own log line, so the banner is switched off on the cpu backend instance.
 */
function silenceCpuBanner(): void {
  if (tf.engine().registryFactory['cpu'] == null) return;
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null && cpu.firstUse === true) cpu.firstUse = false;
}

// ---------------------------------------------------------------------------------------------------------------

interface Loaded {
  info: Omit<BackendInfo, 'reason' | 'summary'>;
  details: string[];
  notes: string[];
}

async function loadNative(name: 'tfjs-node-gpu' | 'tfjs-node', searchPaths: string[]): Promise<Loaded> {
  const pkg = `@tensorflow/${name}`;
  const hint = installHint(name);
  let pj: string | null = null;
  for (const dir of searchPaths) {
    pj = resolvePackageJson(pkg, dir);
    if (pj != null) break;
  }
  if (pj == null) throw new BackendUnavailableError(name, 'not installed', hint);
  const dir = path.dirname(pj);
  const ours = tf.version_core;

  // Versions it would run with: its own, and the tfjs / tfjs-core that Node resolves from its directory.
  const seen: string[] = [];
  const pkgVersion = readVersion(pj);
  if (pkgVersion !== ours) seen.push(`${pkg}@${pkgVersion}`);
  const tfjsPj = resolvePackageJson('@tensorflow/tfjs', dir);
  const corePjs = [resolvePackageJson('@tensorflow/tfjs-core', dir)];
  if (tfjsPj != null) {
    const v = readVersion(tfjsPj);
    if (v !== ours) seen.push(`@tensorflow/tfjs@${v} (${path.dirname(tfjsPj)})`);
    corePjs.push(resolvePackageJson('@tensorflow/tfjs-core', path.dirname(tfjsPj)));
  }
  for (const core of corePjs) {
    if (core == null) continue;
    const v = readVersion(core);
    if (v !== ours) seen.push(`@tensorflow/tfjs-core@${v} (${path.dirname(core)})`);
  }
  if (seen.length > 0) {
    throw new BackendUnavailableError(
      name,
      `version mismatch: it would run with ${[...new Set(seen)].join(', ')}, but this process uses ` +
        `@tensorflow/tfjs-core@${ours}; all tfjs packages must have the same version`,
      hint,
    );
  }

  // libtensorflow logs every op placement and CUDA probe at INFO; keep warnings and errors.
  if (process.env.TF_CPP_MIN_LOG_LEVEL == null) process.env.TF_CPP_MIN_LOG_LEVEL = '2';
  try {
    nodeRequire(pj)(dir);
  } catch (e) {
    throw new BackendUnavailableError(name, `${pkg} is installed but failed to load: ${firstLine(e)}`, hint);
  }
  if (tf.engine().registryFactory['tensorflow'] == null) {
    throw new BackendUnavailableError(
      name,
      `${pkg} loaded but its 'tensorflow' backend is not registered with this process's tfjs-core ` +
        `(${resolvePackageJson('@tensorflow/tfjs-core', HERE) ?? 'unresolved'})`,
      hint,
    );
  }
  try {
    await activate('tensorflow');
    smokeTest();
  } catch (e) {
    throw new BackendUnavailableError(name, `${pkg} failed to initialise: ${firstLine(e)}`, hint);
  }
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const details = [`tfjs ${ours}`];
  const notes: string[] = [];
  let kind: BackendKind = name === 'tfjs-node-gpu' ? 'gpu' : 'native';
  if (name === 'tfjs-node-gpu') {
    if (backend.isUsingGpuDevice === false) {
      kind = 'native';
      details.push('no CUDA device visible: running on CPU');
      notes.push(
        'tfjs-node-gpu found no usable GPU (check the NVIDIA driver, CUDA 11.x/cuDNN 8, CUDA_VISIBLE_DEVICES)',
      );
    } else {
      details.push('CUDA');
    }
  } else {
    details.push('libtensorflow CPU');
  }
  return {
    info: { name, kind, tfBackend: 'tensorflow', version: ours, packageVersion: pkgVersion },
    details,
    notes,
  };
}

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');

async function loadWasm(opts: InitBackendOptions): Promise<Loaded> {
  let pkg: WasmPackage;
  try {
    pkg = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    throw new BackendUnavailableError(
      'wasm',
      `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(e)}`,
      installHint('wasm'),
    );
  }
  const notes: string[] = [];
  const registration = registerWasmTrainingKernels();
  const alreadyUp = tf.engine().registry['wasm'] != null;
  const threads = requestedThreads(opts);
  if (!alreadyUp && threads > 1 && tf.env().getBool('IS_NODE')) {
    // The threaded binary needs the workarounds in wasm-threads.ts; if it fails, use the single-threaded one.
    const wasmPj = resolvePackageJson('@tensorflow/tfjs-backend-wasm', HERE);
    const quietEngine = tf.env().getBool('IS_TEST');
    let ok = false;
    let why = '';
    try {
      if (wasmPj == null) throw new Error('cannot locate @tensorflow/tfjs-backend-wasm');
      tf.env().set('IS_TEST', true); // the engine reports a failed init with console.warn unless IS_TEST
      ok = await withNodeWasmThreads(path.dirname(wasmPj), threads, pkg.setThreadsCount, () =>
        tf.setBackend('wasm'),
      );
    } catch (e) {
      why = firstLine(e);
    } finally {
      tf.env().set('IS_TEST', quietEngine);
    }
    if (!ok) {
      notes.push(`multi-threaded wasm failed (${why || 'initialisation failed'}); using 1 thread`);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      pkg.setThreadsCount(1);
    }
  }
  if (tf.engine().registry['wasm'] == null || tf.getBackend() !== 'wasm') {
    try {
      await activate('wasm');
    } catch (e) {
      throw new BackendUnavailableError('wasm', firstLine(e), installHint('wasm'));
    }
  }
  unrefWasmWorkers();
  smokeTest();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const actualThreads = pkg.getThreadsCount();
  if (alreadyUp && actualThreads !== threads) {
    notes.push(`wasm was initialised before initBackend: thread count stays ${actualThreads}`);
  }
  if (registration.accelerated.length > 0 || registration.added.length > 0) {
    notes.push(
      `wasm training kernels: added ${registration.added.join(', ') || 'none'}; ` +
        `faster paths for ${registration.accelerated.join(', ') || 'none'}; ` +
        `fixed ${registration.fixed.join(', ') || 'none'}`,
    );
  }
  return {
    info: {
      name: 'wasm',
      kind: 'wasm',
      tfBackend: 'wasm',
      version: tf.version_core,
      packageVersion: pkg.version_wasm,
      threads: actualThreads,
      simd: simd === true,
    },
    details: [
      `tfjs ${tf.version_core}`,
      simd === true ? 'SIMD' : 'no SIMD',
      `${actualThreads} thread${actualThreads === 1 ? '' : 's'}`,
    ],
    notes,
  };
}

async function loadCpu(): Promise<Loaded> {
  let version: string;
  try {
    version = (await import('@tensorflow/tfjs-backend-cpu')).version_cpu;
  } catch (e) {
    throw new BackendUnavailableError(
      'cpu',
      `@tensorflow/tfjs-backend-cpu failed to load: ${firstLine(e)}`,
      installHint('cpu'),
    );
  }
  silenceCpuBanner();
  await activate('cpu');
  smokeTest();
  return {
    info: { name: 'cpu', kind: 'js', tfBackend: 'cpu', version: tf.version_core, packageVersion: version },
    details: [`tfjs ${tf.version_core}`, 'plain JS'],
    notes: [],
  };
}

async function load(name: BackendName, opts: InitBackendOptions, searchPaths: string[]): Promise<Loaded> {
  switch (name) {
    case 'tfjs-node-gpu':
    case 'tfjs-node':
      return loadNative(name, searchPaths);
    case 'wasm':
      return loadWasm(opts);
    case 'cpu':
      return loadCpu();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const chosen = new Map<string, BackendInfo>();
let current: BackendInfo | null = null;
let queue: Promise<unknown> = Promise.resolve();

/** The backend chosen by the last successful `initBackend`, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}

async function choose(opts: InitBackendOptions): Promise<BackendInfo> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const request = resolveRequest(opts);
  const searchPaths = opts.searchPaths ?? defaultSearchPaths();
  const cacheKey = `${request.prefer}|${searchPaths.join(path.delimiter)}`;
  const cached = chosen.get(cacheKey);
  if (cached != null) {
    if (tf.getBackend() !== cached.tfBackend) await activate(cached.tfBackend);
    current = cached;
    return cached;
  }
  // The cpu backend always loads (the fallback, and tests compare against it); its banner is handled here.
  await import('@tensorflow/tfjs-backend-cpu').catch(() => undefined);
  silenceCpuBanner();
  registerResizeBilinearGradFix('cpu');

  let loaded: Loaded;
  let reason: string;
  if (request.prefer !== 'auto') {
    loaded = await load(request.prefer, opts, searchPaths);
    reason = `requested by ${request.source}`;
  } else {
    const skipped: string[] = [];
    const nativeRegisteredBefore = tf.engine().registryFactory['tensorflow'] != null;
    let found: Loaded | null = null;
    for (const name of BACKEND_NAMES) {
      // Both native packages provide the 'tensorflow' backend: once tfjs-node-gpu registered it and still
      // failed, loading tfjs-node on top cannot help.
      if (
        name === 'tfjs-node' &&
        !nativeRegisteredBefore &&
        tf.engine().registryFactory['tensorflow'] != null
      ) {
        skipped.push('tfjs-node skipped (tfjs-node-gpu already registered the tensorflow backend)');
        continue;
      }
      try {
        found = await load(name, opts, searchPaths);
        break;
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) skipped.push(`${name}: ${firstLine(e)}`);
        else skipped.push(e.why === 'not installed' ? `${name} not installed` : `${name}: ${e.why}`);
      }
    }
    if (found == null)
      throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.join('; ')}`);
    loaded = found;
    reason = skipped.length > 0 ? `auto: ${skipped.join(', ')}` : 'auto: best available';
  }
  const why = reason.startsWith('auto: ') ? reason.slice('auto: '.length) : reason;
  const summary = `backend: ${loaded.info.name} (${loaded.details.join(', ')}) — ${why}`;
  const info: BackendInfo = { ...loaded.info, reason, summary };
  log(summary);
  for (const note of loaded.notes) log(`backend: ${note}`);
  chosen.set(cacheKey, info);
  current = info;
  return info;
}

/**
 * Chooses, initialises and activates the TensorFlow.js backend (see the module comment), logs one summary
 * line and returns what was chosen. Idempotent: a repeated call with the same preference returns the same
 * result (re-activating that backend if another was activated meanwhile) without reloading anything.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const run = queue.then(() => choose(opts));
  queue = run.catch(() => undefined);
  return run;
}
