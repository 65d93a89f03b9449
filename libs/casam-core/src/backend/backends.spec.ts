import { afterEach, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { BackendUnavailableError, currentBackend, initBackend } from './backends';

const saved = { backend: process.env.CASAM_BACKEND, threads: process.env.CASAM_WASM_THREADS };

afterEach(() => {
  for (const [k, v] of [
    ['CASAM_BACKEND', saved.backend],
    ['CASAM_WASM_THREADS', saved.threads],
  ] as const) {
    if (v == null) delete process.env[k];
    else process.env[k] = v;
  }
});

function collect(): { lines: string[]; log: (l: string) => void } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l) };
}

describe('initBackend (no native TensorFlow installed here)', () => {
  it('CASAM_BACKEND=cpu picks cpu', async () => {
    process.env.CASAM_BACKEND = 'cpu';
    const { lines, log } = collect();
    const warned: unknown[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => void warned.push(args);
    let info;
    try {
      info = await initBackend({ log });
      tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync());
    } finally {
      console.warn = original;
    }
    // TensorFlow.js's own "Hi, looks like you are running TensorFlow.js in Node.js…" banner is not printed
    expect(warned).toEqual([]);
    expect(info).toMatchObject({ name: 'cpu', kind: 'js', tfBackend: 'cpu', version: tf.version_core });
    expect(info.reason).toBe('requested by CASAM_BACKEND=cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(lines[0]).toBe(
      `backend: cpu (tfjs ${tf.version_core}, plain JS) — requested by CASAM_BACKEND=cpu`,
    );
  });

  it('requesting tfjs-node-gpu fails, saying why and how to install it', async () => {
    const err = await initBackend({ prefer: 'tfjs-node-gpu', log: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain('backend tfjs-node-gpu unavailable: not installed');
    expect(message).toContain(`npm i @tensorflow/tfjs-node-gpu@${tf.version_core}`);
    expect(message).toMatch(/CUDA 11\.x and cuDNN 8/);
  });

  it('CASAM_BACKEND=tfjs-node fails the same way; an unknown value is rejected', async () => {
    process.env.CASAM_BACKEND = 'tfjs-node';
    await expect(initBackend({ log: () => undefined })).rejects.toThrow(
      `npm i @tensorflow/tfjs-node@${tf.version_core}`,
    );
    process.env.CASAM_BACKEND = 'webgpu';
    await expect(initBackend({ log: () => undefined })).rejects.toThrow(
      /CASAM_BACKEND="webgpu" is not one of/,
    );
  });

  it('auto picks wasm (SIMD, threads) and says why the native backends were skipped', async () => {
    delete process.env.CASAM_BACKEND;
    process.env.CASAM_WASM_THREADS = '2';
    const { lines, log } = collect();
    const info = await initBackend({ log });
    expect(info).toMatchObject({ name: 'wasm', kind: 'wasm', tfBackend: 'wasm', simd: true });
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.threads).toBeLessThanOrEqual(2);
    expect(info.reason).toBe('auto: tfjs-node-gpu not installed, tfjs-node not installed');
    expect(lines[0]).toMatch(
      /^backend: wasm \(tfjs 4\.22\.0, SIMD, [12] threads?\) — tfjs-node-gpu not installed, tfjs-node not installed$/,
    );
    expect(tf.getBackend()).toBe('wasm');
    // the training kernels are in place
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('is idempotent: same result, nothing reloaded or logged; re-activates after a switch', async () => {
    const first = await initBackend({ log: () => undefined });
    await initBackend({ prefer: 'cpu', log: () => undefined });
    expect(tf.getBackend()).toBe('cpu');
    const { lines, log } = collect();
    const again = await initBackend({ log });
    expect(again).toBe(first);
    expect(lines).toEqual([]);
    expect(tf.getBackend()).toBe('wasm');
    expect(currentBackend()).toBe(first);
    const [a, b] = await Promise.all([initBackend({ log }), initBackend({ log })]);
    expect(a).toBe(first);
    expect(b).toBe(first);
  });
});
