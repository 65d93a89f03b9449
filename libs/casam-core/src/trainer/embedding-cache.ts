/**
 * On-disk cache of frozen-encoder embeddings. The encoder is frozen, so each image is embedded once; training
 * then reads embeddings from here and never runs the encoder.
 *
 *   key   sha256 over "casam-image-v1\0", u32 width, u32 height (LE) and the decoded RGB bytes (HWC): the same
 *         pixels hash alike whatever file format or name they came from
 *   path  <cacheDir>/<first 16 hex of the base-model fingerprint>/<key[0:2]>/<key>.safetensors
 *   file  tensor `image_embeddings` F32 NCHW [1,C,g,g]; metadata (strings, as `site-agent embed` writes plus the
 *         cache's own): format, version, model, fingerprint, image_sha256, data_sha256 (of the tensor bytes),
 *         original_size, input_size, layout
 *
 * Writes are atomic (temporary file, fsync, rename), so an interrupted run leaves whole entries or none. An
 * entry that does not read back cleanly (truncated, wrong shape, checksum or fingerprint mismatch, NaN) is
 * recomputed by `ensureEmbeddings` and refused by `loadEmbedding`. Interrupting `ensureEmbeddings` and running it
 * again computes only what is missing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RgbImage } from '../image/image-io';
import { gridSize } from '../sam/config';
import type { SamEngine } from '../sam/engine';
import { prepareImage } from '../sam/transforms';
import { HostTensor, float32Tensor, shapeEquals } from '../tensor/host-tensor';
import { SafetensorsFile, readSafetensors, writeSafetensors } from '../weights/safetensors';
import { writeFileAtomic } from '../io/atomic-file';
import { TrainerInputError, TrainingAbortedError } from './trainer-errors';
import type { ItemSource } from './training-item';

export const EMBEDDING_CACHE_FORMAT = 'casam-embedding';
export const EMBEDDING_CACHE_VERSION = 1;
export const EMBEDDING_TENSOR = 'image_embeddings';

const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;

/** Where one image's cached embedding lives and what it describes. */
export interface EmbeddingHandle {
  /** The item's id (several ids may share one entry when their pixels are identical). */
  id: string;
  /** sha256 (hex) of the image content, see `imageContentHash`. */
  key: string;
  path: string;
  /** Base-model fingerprint the embedding was computed with. */
  fingerprint: string;
  /** [1,C,g,g]. */
  shape: number[];
  /** (h, w) of the original image. */
  originalSize: [number, number];
  /** (h, w) after ResizeLongestSide, before padding. */
  inputSize: [number, number];
}

export interface CachedEmbedding {
  /** NCHW [1,C,g,g] float32. */
  embeddings: HostTensor;
  originalSize: [number, number];
  inputSize: [number, number];
}

/** A cache entry that is unreadable or does not match what it claims to be. */
export class CorruptEmbeddingError extends Error {
  override name = 'CorruptEmbeddingError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`embedding cache entry ${path} is unusable: ${problem}`);
  }
}

/** sha256 (hex) over the decoded pixels and the size. */
export function imageContentHash(image: RgbImage): string {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new TrainerInputError(`image size must be positive integers, got ${width}×${height}`);
  if (data.length !== width * height * 3)
    throw new TrainerInputError(
      `image has ${data.length} bytes, ${width}×${height} RGB needs ${width * height * 3}`,
    );
  const size = Buffer.alloc(8);
  size.writeUInt32LE(width, 0);
  size.writeUInt32LE(height, 4);
  return createHash('sha256').update('casam-image-v1\0').update(size).update(data).digest('hex');
}

/** The folder of one base model inside the cache: the first 16 hex digits of its fingerprint. */
export function fingerprintDirName(fingerprint: string): string {
  if (!FINGERPRINT.test(fingerprint))
    throw new TrainerInputError(
      `fingerprint must be "sha256:" and 64 lowercase hex digits, got ${fingerprint}`,
    );
  return fingerprint.slice('sha256:'.length, 'sha256:'.length + 16);
}

export function embeddingCachePath(cacheDir: string, fingerprint: string, key: string): string {
  return join(cacheDir, fingerprintDirName(fingerprint), key.slice(0, 2), `${key}.safetensors`);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function parseSize(s: string | undefined, what: string, path: string): [number, number] {
  let v: unknown;
  try {
    v = JSON.parse(s ?? '');
  } catch {
    throw new CorruptEmbeddingError(path, `metadata ${what} is not JSON`);
  }
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1))
    throw new CorruptEmbeddingError(path, `metadata ${what} must be [h, w]`);
  return [v[0] as number, v[1] as number];
}

interface Expected {
  fingerprint: string;
  key: string;
  /** [1,C,g,g] when known. */
  shape?: number[];
}

/** Reads and checks one entry; every mismatch is a CorruptEmbeddingError. */
function readEntry(path: string, want: Expected): CachedEmbedding {
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CorruptEmbeddingError(path, `cannot read (${(e as Error).message})`);
  }
  let file: SafetensorsFile;
  try {
    file = readSafetensors(buf, { maxHeaderBytes: 64 * 1024 });
  } catch (e) {
    throw new CorruptEmbeddingError(path, (e as Error).message);
  }
  const m = file.metadata;
  if (m['format'] !== EMBEDDING_CACHE_FORMAT || m['version'] !== String(EMBEDDING_CACHE_VERSION))
    throw new CorruptEmbeddingError(
      path,
      `not a version ${EMBEDDING_CACHE_VERSION} ${EMBEDDING_CACHE_FORMAT} file`,
    );
  if (m['fingerprint'] !== want.fingerprint)
    throw new CorruptEmbeddingError(
      path,
      `computed with base model ${m['fingerprint']}, not ${want.fingerprint}`,
    );
  if (m['image_sha256'] !== want.key)
    throw new CorruptEmbeddingError(path, `holds image ${m['image_sha256']}, not ${want.key}`);
  const t = file.tensors.get(EMBEDDING_TENSOR);
  if (!t || file.tensors.size !== 1)
    throw new CorruptEmbeddingError(path, `must hold exactly ${EMBEDDING_TENSOR}`);
  if (t.dtype !== 'float32')
    throw new CorruptEmbeddingError(path, `${EMBEDDING_TENSOR} is ${t.dtype}, not float32`);
  if (want.shape ? !shapeEquals(t.shape, want.shape) : t.shape.length !== 4 || t.shape[0] !== 1)
    throw new CorruptEmbeddingError(path, `${EMBEDDING_TENSOR} has shape [${t.shape}]`);
  if (sha256Hex(tensorBytes(t)) !== m['data_sha256'])
    throw new CorruptEmbeddingError(path, 'tensor data does not match its checksum');
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++)
    if (!Number.isFinite(d[i])) throw new CorruptEmbeddingError(path, 'tensor holds NaN or Inf');
  return {
    embeddings: t,
    originalSize: parseSize(m['original_size'], 'original_size', path),
    inputSize: parseSize(m['input_size'], 'input_size', path),
  };
}

/**
 * Reads a cached embedding (checksum and metadata verified). Throws CorruptEmbeddingError when the entry is
 * missing or damaged: training never recomputes, run `ensureEmbeddings` again instead.
 */
export function loadEmbedding(handle: EmbeddingHandle): CachedEmbedding {
  if (!existsSync(handle.path))
    throw new CorruptEmbeddingError(handle.path, 'missing (run ensureEmbeddings to fill the cache)');
  return readEntry(handle.path, { fingerprint: handle.fingerprint, key: handle.key, shape: handle.shape });
}

export interface EmbedProgress {
  /** Items handled so far (cached or computed). */
  done: number;
  /** Items in all, when known (arrays, or `total` given for a stream). */
  total: number | null;
  /** Of `done`: found in the cache. */
  cached: number;
  /** Of `done`: embedded in this run (including corrupt entries recomputed). */
  computed: number;
  /** Of `computed`: entries that were present but unusable. */
  repaired: number;
  /** Seconds left at the rate of this run's computed items; null until one is computed or without a total. */
  etaS: number | null;
  /** The item just handled. */
  id: string;
}

export interface EnsureEmbeddingsOptions {
  cacheDir: string;
  /** stateDictFingerprint of the engine's weights. The caller vouches that it describes the engine. */
  fingerprint: string;
  onProgress?: (p: EmbedProgress) => void;
  /** Checked before each item; a stop throws TrainingAbortedError with every finished entry on disk. */
  signal?: AbortSignal;
  /** Item count of a stream, for the progress total and ETA. */
  total?: number;
  /** Clock in seconds (default performance.now()/1000); injectable for tests. */
  now?: () => number;
}

/**
 * Makes sure every item's image has a valid cache entry for this base model, computing only missing or damaged
 * ones, and returns one handle per item in input order. Only `id` and `image` of the items are read.
 */
export async function ensureEmbeddings(
  items: ItemSource<{ id: string; image: RgbImage }>,
  engine: SamEngine,
  opts: EnsureEmbeddingsOptions,
): Promise<EmbeddingHandle[]> {
  const { cacheDir, fingerprint } = opts;
  fingerprintDirName(fingerprint); // validates
  const cfg = engine.config;
  const g = gridSize(cfg);
  const shape = [1, cfg.outChans, g, g];
  const now = opts.now ?? ((): number => performance.now() / 1000);
  const total = Array.isArray(items) ? items.length : (opts.total ?? null);
  const handles: EmbeddingHandle[] = [];
  // Entries checked or written in this run, by key: items with identical pixels share one entry.
  const verified = new Map<string, { originalSize: [number, number]; inputSize: [number, number] }>();
  let cached = 0;
  let computed = 0;
  let repaired = 0;
  let computeS = 0;
  for await (const item of items) {
    if (opts.signal?.aborted)
      throw new TrainingAbortedError('embedding', `${handles.length} of ${total ?? '?'} images done`);
    const key = imageContentHash(item.image);
    const path = embeddingCachePath(cacheDir, fingerprint, key);
    let entry: { originalSize: [number, number]; inputSize: [number, number] } | undefined =
      verified.get(key);
    if (!entry && existsSync(path)) {
      try {
        entry = readEntry(path, { fingerprint, key, shape });
      } catch (e) {
        if (!(e instanceof CorruptEmbeddingError)) throw e;
        repaired++;
      }
    }
    if (!entry) {
      const t0 = now();
      const { width, height, data } = item.image;
      const { preprocessed, inputSize, originalSize } = prepareImage(data, height, width, cfg);
      const emb = await engine.embed(preprocessed);
      if (!shapeEquals(emb.shape, shape) || emb.dtype !== 'float32')
        throw new TrainerInputError(
          `engine returned ${emb.dtype} [${emb.shape}], expected float32 [${shape}]`,
        );
      const tensor = float32Tensor([...shape], Float32Array.from(emb.data as Float32Array));
      const bytes = writeSafetensors([[EMBEDDING_TENSOR, tensor]], {
        format: EMBEDDING_CACHE_FORMAT,
        version: String(EMBEDDING_CACHE_VERSION),
        model: cfg.name,
        fingerprint,
        image_sha256: key,
        data_sha256: sha256Hex(tensorBytes(tensor)),
        original_size: JSON.stringify(originalSize),
        input_size: JSON.stringify(inputSize),
        layout: 'NCHW',
      });
      writeFileAtomic(path, bytes);
      entry = { originalSize, inputSize };
      computeS += now() - t0;
      computed++;
    } else cached++;
    verified.set(key, entry);
    handles.push({
      id: item.id,
      key,
      path,
      fingerprint,
      shape: [...shape],
      originalSize: [...entry.originalSize],
      inputSize: [...entry.inputSize],
    });
    const done = handles.length;
    const etaS = total !== null && computed > 0 ? (computeS / computed) * Math.max(0, total - done) : null;
    opts.onProgress?.({ done, total, cached, computed, repaired, etaS, id: item.id });
  }
  return handles;
}
