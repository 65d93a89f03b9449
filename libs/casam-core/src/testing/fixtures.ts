/** Test-only helpers for the golden tensors in ../shared/fixtures (read-only, produced by the official code). */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HostTensor, StateDict, shapeEquals, toFloat32 } from '../tensor/host-tensor';
import { readSafetensors } from '../weights/safetensors';

export const REPO_ROOT = resolve(__dirname, '../../../..');
export const FIXTURES_DIR = process.env['CASAM_FIXTURES'] ?? resolve(REPO_ROOT, '../shared/fixtures');

export function fixturePath(rel: string): string {
  const p = join(FIXTURES_DIR, rel);
  if (!existsSync(p)) throw new Error(`fixture ${p} not found (set CASAM_FIXTURES to the fixtures folder)`);
  return p;
}

const cache = new Map<string, StateDict>();
/** All tensors of one fixture safetensors file (cached per process). */
export function loadFixture(rel: string): StateDict {
  let sd = cache.get(rel);
  if (!sd) {
    sd = readSafetensors(new Uint8Array(readFileSync(fixturePath(rel)))).tensors;
    cache.set(rel, sd);
  }
  return sd;
}

export function fixtureTensor(rel: string, name: string): HostTensor {
  const t = loadFixture(rel).get(name);
  if (!t) throw new Error(`fixture ${rel} has no tensor ${name}`);
  return t;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as the max
  }
  return m;
}

/**
 * Throws with a readable message unless `actual` matches the golden tensor within `atol` (absolute).
 * Returns the max abs diff so specs can log it.
 */
export function expectClose(
  actual: { shape: number[]; data: ArrayLike<number> | HostTensor['data'] },
  golden: HostTensor,
  atol: number,
  label = '',
): number {
  if (actual.data instanceof BigInt64Array)
    throw new Error(`${label}: integer tensor where floats were expected`);
  if (!shapeEquals(actual.shape, golden.shape))
    throw new Error(`${label}: shape [${actual.shape}] != golden [${golden.shape}]`);
  const d = maxAbsDiff(actual.data as ArrayLike<number>, toFloat32(golden));
  if (!(d <= atol)) throw new Error(`${label}: max abs diff ${d.toExponential(3)} > tolerance ${atol}`);
  return d;
}
