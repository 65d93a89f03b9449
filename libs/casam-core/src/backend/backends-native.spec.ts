/**
 * The native path of initBackend, exercised with stand-in packages: a real @tensorflow/tfjs-node downloads
 * libtensorflow at install time, which this environment cannot do. The stand-ins live in a temp directory
 * handed to initBackend as `searchPaths`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { BackendUnavailableError, initBackend } from './backends';

let root: string;

function writePackage(dir: string, name: string, version: string, main?: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version, main: 'index.js' }));
  if (main != null) fs.writeFileSync(path.join(dir, 'index.js'), main);
}

/** A site directory with node_modules/@tensorflow/tfjs-node whose own tfjs-core is `coreVersion`. */
function site(name: string, coreVersion: string, main: string): string {
  const dir = path.join(root, name);
  const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  writePackage(pkg, '@tensorflow/tfjs-node', tf.version_core, main);
  writePackage(
    path.join(pkg, 'node_modules', '@tensorflow', 'tfjs-core'),
    '@tensorflow/tfjs-core',
    coreVersion,
  );
  return dir;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-backend-spec-'));
  await import('@tensorflow/tfjs-backend-cpu');
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  if (tf.engine().registryFactory['tensorflow'] != null) tf.removeBackend('tensorflow');
});

describe('initBackend with a tfjs-node package present', () => {
  it('refuses a tfjs-node built against another tfjs-core version, before loading it', async () => {
    const dir = site('old', '3.21.0', "throw new Error('must not be loaded');");
    const err = await initBackend({ prefer: 'tfjs-node', searchPaths: [dir], log: () => undefined }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain('version mismatch');
    expect(message).toContain('@tensorflow/tfjs-core@3.21.0');
    expect(message).toContain(`this process uses @tensorflow/tfjs-core@${tf.version_core}`);
    expect(message).toContain(`npm i @tensorflow/tfjs-node@${tf.version_core}`);
    expect(tf.engine().registryFactory['tensorflow']).toBeUndefined();
  });

  it('auto skips the mismatched tfjs-node with the reason in the log line and falls back to wasm', async () => {
    const dir = site('old2', '3.21.0', "throw new Error('must not be loaded');");
    const lines: string[] = [];
    const info = await initBackend({ searchPaths: [dir], wasmThreads: 1, log: (l) => lines.push(l) });
    expect(info.name).toBe('wasm');
    expect(info.reason).toMatch(/^auto: tfjs-node-gpu not installed, tfjs-node: version mismatch: /);
    expect(lines[0]).toMatch(
      /^backend: wasm \(.*\) — tfjs-node-gpu not installed, tfjs-node: version mismatch/,
    );
  });

  it('reports a tfjs-node that fails to load (e.g. missing libtensorflow) with the install hint', async () => {
    const dir = site(
      'broken',
      tf.version_core,
      "throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');",
    );
    await expect(
      initBackend({ prefer: 'tfjs-node', searchPaths: [dir], log: () => undefined }),
    ).rejects.toThrow(
      /failed to load: libtensorflow\.so\.2: cannot open shared object file.*npm i @tensorflow\/tfjs-node@/,
    );
  });

  it('auto picks a matching tfjs-node first and registers it against our tfjs-core', async () => {
    // Stand-in for tfjs-node: registers a 'tensorflow' backend (the cpu kernels under that name) with the
    // tfjs-core this process uses, as the real package does through its @tensorflow/tfjs dependency.
    const core = require.resolve('@tensorflow/tfjs-core');
    const cpu = require.resolve('@tensorflow/tfjs-backend-cpu');
    const main = [
      `const tf = require(${JSON.stringify(core)});`,
      `const { MathBackendCPU } = require(${JSON.stringify(cpu)});`,
      `tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);`,
      `for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'tensorflow' });`,
    ].join('\n');
    const dir = site('good', tf.version_core, main);
    const lines: string[] = [];
    const info = await initBackend({ searchPaths: [dir], log: (l) => lines.push(l) });
    expect(info).toMatchObject({ name: 'tfjs-node', kind: 'native', tfBackend: 'tensorflow' });
    expect(info.reason).toBe('auto: tfjs-node-gpu not installed');
    expect(lines[0]).toBe(
      `backend: tfjs-node (tfjs ${tf.version_core}, libtensorflow CPU) — tfjs-node-gpu not installed`,
    );
    expect(tf.getBackend()).toBe('tensorflow');
    expect(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync())).toEqual([2, 3]);
  });
});
