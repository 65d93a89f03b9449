/**
 * Multi-threaded tfjs wasm (XNNPACK + pthreadpool) in Node.js.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD binary, but in Node it never uses it:
 *  1. its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false when IS_NODE (tfjs issue #3830);
 *  2. forced on, the Emscripten runtime must start its pthread pool as worker_threads from a file path, while
 *     tfjs hands it `blob:` URLs (worker script and main script), which Node's Worker rejects;
 *  3. the C++ side caps the pool at emscripten_num_logical_cores() / 2 (it assumes 2 hyper-threads per
 *     core), which Emscripten answers in Node with os.cpus().length — so a 2-vCPU host gets 1 thread;
 *  4. pthreadpool's threads stay alive and ref'd, so the process would never exit on its own.
 *
 * `withNodeWasmThreads` works around each point for the duration of one backend initialisation:
 *  1. sets the flag; 2. writes the worker script (with a two-line prelude) to a file in the OS temp directory
 *     and patches URL.createObjectURL so tfjs's worker Blob maps to that file — inside the worker, the prelude
 *     maps the main-script Blob to tfjs's own `wasm-out/tfjs-backend-wasm-threaded-simd.js`; 3. makes
 *     os.cpus() report 2×threads entries while the module starts; 4. `unrefWasmWorkers` afterwards.
 * Everything patched is restored in `finally`. If anything fails, the caller falls back to the
 * single-threaded SIMD binary.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createRequire } from 'module';
import { tf } from '../sam/tf';

/** Emscripten's pthread pool in tfjs's wasm build is pre-created with 8 workers: the usable maximum. */
export const MAX_WASM_THREADS = 8;

type OsModule = typeof import('os');

function nodeRequire(): NodeJS.Require {
  const base = typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js');
  return createRequire(base);
}

/** The os module object itself (not an ES-interop copy), which Emscripten's `require("os")` returns too. */
function osModule(): OsModule {
  return nodeRequire()('os') as OsModule;
}

/** Threads to use when nothing is requested: every logical CPU, up to the build's pool size. */
export function defaultWasmThreads(): number {
  const os = osModule();
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_WASM_THREADS, cpus));
}

/** Writes (once per content) the worker script to the temp directory; atomic against parallel processes. */
function writeWorkerScript(wasmDir: string): string {
  const req = nodeRequire();
  const mainScript = path.join(wasmDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(wasmDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  if (!fs.existsSync(mainScript) || !fs.existsSync(workerModule)) {
    throw new Error(`threaded wasm files not found under ${path.join(wasmDir, 'wasm-out')}`);
  }
  const { wasmWorkerContents } = req(workerModule) as { wasmWorkerContents?: unknown };
  if (typeof wasmWorkerContents !== 'string') throw new Error('unexpected tfjs wasm worker module layout');
  // tfjs escapes newlines the same way before wrapping the contents in a Blob: the template literal turned
  // "\n" escapes inside string literals into real newlines.
  const prelude =
    `URL.createObjectURL=function(){return ${JSON.stringify(mainScript)}};` +
    `URL.revokeObjectURL=function(){};\n`;
  const source = prelude + wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(fs.realpathSync(osModule().tmpdir()), `casam-tfjs-wasm-worker-${hash}.js`);
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== source) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, source);
    fs.renameSync(tmp, file);
  }
  return file;
}

/**
 * Runs `init` (which must initialise the wasm backend, e.g. `tf.setBackend('wasm')`) with the threaded
 * binary enabled for `threads` threads; restores every patched global afterwards.
 */
export async function withNodeWasmThreads<T>(
  wasmDir: string,
  threads: number,
  setThreadsCount: (n: number) => void,
  init: () => Promise<T>,
): Promise<T> {
  const workerFile = writeWorkerScript(wasmDir);
  const os = osModule();
  const realCpus = os.cpus;
  const realCreateObjectURL = URL.createObjectURL;
  const fakeCpus = (): ReturnType<OsModule['cpus']> => {
    const list = realCpus.call(os);
    return Array.from({ length: 2 * threads }, (_, i) => list[i % Math.max(1, list.length)]);
  };
  try {
    os.cpus = fakeCpus;
    URL.createObjectURL = (obj: Blob): string =>
      obj instanceof Blob && obj.type === 'application/javascript'
        ? workerFile
        : realCreateObjectURL.call(URL, obj);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    return await init();
  } finally {
    os.cpus = realCpus;
    URL.createObjectURL = realCreateObjectURL;
  }
}

interface PThreadWorker {
  unref?: () => void;
}
interface ThreadedModule {
  PThread?: { runningWorkers?: PThreadWorker[]; unusedWorkers?: PThreadWorker[] };
}

/** Lets the process exit while XNNPACK's pool threads idle. Returns how many workers are running. */
export function unrefWasmWorkers(): number {
  const backend = tf.engine().registry['wasm'] as unknown as { wasm?: ThreadedModule } | undefined;
  const pthread = backend?.wasm?.PThread;
  if (pthread == null) return 0;
  for (const w of [...(pthread.runningWorkers ?? []), ...(pthread.unusedWorkers ?? [])]) w.unref?.();
  return pthread.runningWorkers?.length ?? 0;
}
