/**
 * The dataset folder format (docs/data-format.md): types, names, validation rules and the reproducible split
 * assignment shared by the reader, the writers and the site agent's ingest.
 */

export const DATASET_FORMAT = 'casam-dataset';
export const DATASET_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

export type DatasetSplit = 'train' | 'val' | 'test';
export const DATASET_SPLITS: readonly DatasetSplit[] = ['train', 'val', 'test'];

export interface DatasetClass {
  /** Positive integer, unique in the dataset. */
  id: number;
  /** Used in mask file names: letters, digits, '-', '_' and '.', starting with a letter or digit. */
  name: string;
}

export interface DatasetMaskRef {
  classId: number;
  /** Relative to the dataset root, '/'-separated, e.g. 'masks/case01__lv.png'. */
  path: string;
}

export interface DatasetItemEntry {
  id: string;
  /** Relative to the dataset root, e.g. 'images/case01.png'. */
  image: string;
  masks: DatasetMaskRef[];
  split: DatasetSplit;
}

export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  name: string;
  modality: string;
  domain: string;
  seed?: number;
  classes: DatasetClass[];
  items: DatasetItemEntry[];
}

/** Fractions of items per split; must be ≥ 0 and sum to 1. */
export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLITS: SplitFractions = { train: 0.7, val: 0.15, test: 0.15 };

/** The manifest or the folder as a whole is unusable (missing, not JSON, wrong format or version). */
export class DatasetFormatError extends Error {
  override name = 'DatasetFormatError';
}

/** An option passed to a dataset function is out of range. */
export class DatasetOptionsError extends Error {
  override name = 'DatasetOptionsError';
}

/** One item could not be loaded (its files changed or broke after indexing). */
export class DatasetItemError extends Error {
  override name = 'DatasetItemError';
}

/** Ids and class names become file names, so they are kept to a portable, unambiguous alphabet. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeName(s: unknown): s is string {
  return typeof s === 'string' && SAFE_NAME.test(s) && !s.includes('__') && !s.endsWith('.');
}

/** A relative path that stays inside the dataset root (no '..', no absolute paths, no backslashes). */
export function isSafeRelativePath(p: unknown): p is string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 1024) return false;
  if (p.startsWith('/') || p.includes('\\') || /^[A-Za-z]:/.test(p)) return false;
  return p.split('/').every((seg) => seg.length > 0 && seg !== '.' && seg !== '..');
}

export function imagePathFor(id: string, ext = 'png'): string {
  return `images/${id}.${ext}`;
}

export function maskPathFor(id: string, className: string): string {
  return `masks/${id}__${className}.png`;
}

export function validateSplitFractions(f: SplitFractions): SplitFractions {
  for (const k of DATASET_SPLITS) {
    const v = f[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
      throw new DatasetOptionsError(`split fraction ${k} must be a number in [0, 1], got ${String(v)}`);
  }
  const sum = f.train + f.val + f.test;
  if (Math.abs(sum - 1) > 1e-6)
    throw new DatasetOptionsError(
      `split fractions must sum to 1, got ${f.train} + ${f.val} + ${f.test} = ${sum}`,
    );
  return f;
}

/**
 * 32-bit FNV-1a over the UTF-8 bytes, then the murmur3 finaliser (FNV alone leaves close strings close).
 * Documented in docs/data-format.md so other tools can reproduce splits.
 */
export function datasetHash32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

function splitOf(u: number, f: SplitFractions): DatasetSplit {
  if (u < f.train) return 'train';
  if (u < f.train + f.val) return 'val';
  return 'test';
}

/**
 * The split of an item from its id alone: u = datasetHash32(`${seed}:${id}`) / 2³², train below f.train, val below
 * f.train + f.val, else test. Adding or removing other items never moves an item to another split.
 */
export function assignSplit(
  id: string,
  seed: number,
  fractions: SplitFractions = DEFAULT_SPLITS,
): DatasetSplit {
  return splitOf(datasetHash32(`${seed}:${id}`) / 4294967296, fractions);
}

/**
 * The split of the n-th item of a generated sequence: a golden-ratio sequence from a seeded start, so every
 * prefix of the sequence is split close to the fractions (hashing ids can leave a 10-item set without a val
 * item) and growing the count later never moves earlier items.
 */
export function sequenceSplit(
  index: number,
  seed: number,
  fractions: SplitFractions = DEFAULT_SPLITS,
): DatasetSplit {
  const start = datasetHash32(`sequence:${seed}`) / 4294967296;
  const u = (start + index * 0.6180339887498949) % 1;
  return splitOf(u, fractions);
}
