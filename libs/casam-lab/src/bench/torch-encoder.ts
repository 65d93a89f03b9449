/**
 * PyTorch as a measuring stick for bench:sam: drives torch/encoder_server.py here (this project's own small
 * PyTorch version of SAM's image encoder) over stdin/stdout, so its forwards can be timed interleaved with the
 * engines measured in Node. Needs Debian's python3-torch, which is never a dependency: callers skip the
 * PyTorch rows when findTorchPython() returns null (CI machines have no torch).
 *
 * Debian's torch is built against the generic libblas.so.3; with the reference BLAS (libblas3, Debian's
 * default) its matmuls are ~20× slower than with OpenBLAS, which would make PyTorch a straw man. The BLAS in
 * use is reported (`blas`), and CASAM_TORCH_LD_LIBRARY_PATH is put in front of LD_LIBRARY_PATH for the Python
 * process only, so an OpenBLAS can be used without changing the machine's alternatives:
 *   apt-get download libopenblas0-openmp && dpkg-deb -x libopenblas0-openmp_*.deb /tmp/openblas
 *   CASAM_TORCH_LD_LIBRARY_PATH=/tmp/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp npm run bench:sam
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { HostTensor, SamConfig, StateDict, readSafetensors, writeSafetensors } from '@casam/casam-core';

const SERVER = resolve(__dirname, 'torch/encoder_server.py');

export interface TorchPython {
  /** The interpreter that imports torch (python3 on PATH may be a pyenv one without it; Debian's is /usr/bin). */
  python: string;
  torchVersion: string;
}

/**
 * The first interpreter that imports torch: $CASAM_TORCH_PYTHON, python3, /usr/bin/python3; else null.
 * `CASAM_TORCH_PYTHON=none` answers null (runs as a machine without torch would).
 */
export function findTorchPython(): TorchPython | null {
  const env = process.env['CASAM_TORCH_PYTHON'];
  if (env === 'none') return null;
  for (const python of [...(env ? [env] : []), 'python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
      env: torchEnv(),
    });
    if (r.status === 0) return { python, torchVersion: r.stdout.trim() };
  }
  return null;
}

function torchEnv(): NodeJS.ProcessEnv {
  const extra = process.env['CASAM_TORCH_LD_LIBRARY_PATH'];
  if (!extra) return process.env;
  const ld = process.env['LD_LIBRARY_PATH'];
  return { ...process.env, LD_LIBRARY_PATH: ld ? `${extra}:${ld}` : extra };
}

/** True for the reference BLAS (Debian's libblas3), which makes PyTorch's matmuls an order of magnitude slow. */
export function isReferenceBlas(blas: string | null): boolean {
  return blas !== null && /\/blas\/libblas\.so/.test(blas);
}

export interface TorchEncoderOptions {
  python: string;
  cfg: SamConfig;
  /** Full SAM weights (official names); only `image_encoder.*` are used. */
  sd: StateDict;
  /** Preprocessed image NCHW [1,3,S,S]. */
  image: HostTensor;
  /** A scratch folder for the files passed to Python. */
  dir: string;
  threads: number;
  /** Where to write PyTorch's own export (`torch.onnx.export`, opset 17) of the module; none when omitted. */
  onnxPath?: string;
}

export interface TorchEncoder {
  torchVersion: string;
  threads: number;
  /** The BLAS library the Python process mapped (null when none was found). */
  blas: string | null;
  /** The module's embeddings of `image` (first forward), NCHW [1,C,g,g]. */
  embeddings: HostTensor;
  /** Wall time of torch.onnx.export, when asked for. */
  exportMs: number | null;
  /** One forward, timed inside Python (ms). */
  embedOnce(): Promise<number>;
  close(): Promise<void>;
}

interface Reply {
  event: string;
  ms?: number;
  message?: string;
  torch?: string;
  threads?: number;
  exportMs?: number | null;
  blas?: string | null;
}

export async function startTorchEncoder(opts: TorchEncoderOptions): Promise<TorchEncoder> {
  const { dir } = opts;
  const files = {
    cfg: join(dir, 'torch-config.json'),
    weights: join(dir, 'torch-weights.safetensors'),
    image: join(dir, 'torch-image.safetensors'),
    out: join(dir, 'torch-embeddings.safetensors'),
  };
  writeFileSync(files.cfg, JSON.stringify(opts.cfg));
  const encoderWeights = [...opts.sd].filter(([k]) => k.startsWith('image_encoder.'));
  writeFileSync(files.weights, writeSafetensors(encoderWeights));
  writeFileSync(files.image, writeSafetensors([['image', opts.image]]));
  const args = [SERVER, files.cfg, files.weights, files.image, files.out, String(opts.threads)];
  if (opts.onnxPath) args.push(opts.onnxPath);
  const child = spawn(opts.python, args, { stdio: ['pipe', 'pipe', 'pipe'], env: torchEnv() });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Reply> => {
    const r = await lines.next();
    if (r.done) throw new Error(`PyTorch encoder exited (code ${child.exitCode}):\n${stderr}`);
    const reply = JSON.parse(r.value) as Reply;
    if (reply.event === 'error') throw new Error(`PyTorch encoder: ${reply.message}`);
    return reply;
  };
  const ready = await next();
  const emb = readSafetensors(readFileSync(files.out)).tensors.get('image_embeddings');
  if (!emb) throw new Error('PyTorch encoder wrote no image_embeddings');
  return {
    torchVersion: ready.torch ?? 'unknown',
    threads: ready.threads ?? opts.threads,
    blas: ready.blas ?? null,
    embeddings: emb,
    exportMs: ready.exportMs ?? null,
    async embedOnce() {
      child.stdin.write('embed\n');
      const r = await next();
      return r.ms ?? NaN;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((res) => child.once('exit', res));
      child.stdin.end('quit\n');
      await exited;
    },
  };
}
