/**
 * The CA-SAM adapter upload: one safetensors file with a task's trained weights and nothing else.
 *
 *   tensors       `align.<Alignment Layer state dict>` then `vae.<TaskVAE state dict>`, all F32, PyTorch layout
 *   __metadata__  exactly one key, `casam`, whose value is compact JSON:
 *                 {format:'casam-adapter', version:1, taskId, baseModel:{preset, fingerprint}, channels,
 *                  tau:{tau,p95,p99,mean,std,n,percentile}, metrics:{name: number}, createdAt}
 *
 * `validateAdapterFile` is what the coordinator runs on an upload. It is strict so that no pixel data can ride
 * along: exact tensor set, shapes and dtype; finite values; the data section covered exactly by the tensors (no
 * gaps, overlaps or trailing bytes); the header in the compact form safetensors writers emit (no extra
 * whitespace, no duplicate keys, no unknown fields); bounded header and metadata sizes; the metadata in the exact
 * schema (no unknown keys, numbers only in metrics, short identifier strings). Every problem is listed.
 *
 * Pure TypeScript on top of safetensors.ts, so the coordinator needs no ML engine.
 */
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { writeSafetensors } from '../weights/safetensors';
import { alignmentStateDictSpec, assertChannels, taskVaeStateDictSpec } from './casam-shapes';
import { stateDictProblems } from './state-dict-check';
import type { TauStats } from './tau-stats';

export const ADAPTER_FORMAT = 'casam-adapter';
export const ADAPTER_VERSION = 1;
/** The only `__metadata__` key. */
export const ADAPTER_METADATA_KEY = 'casam';
export const ADAPTER_ALIGN_PREFIX = 'align.';
export const ADAPTER_VAE_PREFIX = 'vae.';

/** Default limits of `validateAdapterFile`. */
export const ADAPTER_LIMITS = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxMetadataBytes: 4 * 1024,
  /** taskId and preset. */
  maxStringLength: 128,
  maxMetrics: 32,
  maxMetricNameLength: 64,
});

export interface AdapterMetadata {
  format: typeof ADAPTER_FORMAT;
  version: typeof ADAPTER_VERSION;
  taskId: string;
  baseModel: { preset: string; fingerprint: string };
  channels: number;
  tau: TauStats;
  /** Aggregate validation metrics (e.g. iou, dice), numbers only. */
  metrics: Record<string, number>;
  /** ISO 8601 UTC, e.g. 2026-01-31T12:00:00.000Z. */
  createdAt: string;
}

export interface AdapterFile {
  metadata: AdapterMetadata;
  /** Alignment Layer state dict (names without `align.`). */
  align: StateDict;
  /** TaskVAE state dict (names without `vae.`). */
  vae: StateDict;
}

export interface AdapterTensorSpec {
  name: string;
  dtype: 'F32';
  shape: number[];
}

/** An adapter file that does not match the schema; `problems` lists every finding. */
export class AdapterValidationError extends Error {
  override name = 'AdapterValidationError';
  constructor(readonly problems: string[]) {
    super(
      `invalid CA-SAM adapter file (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
    );
  }
}

/** The exact tensor list of an adapter for C channels, in file order. */
export function expectedAdapterSchema(channels: number): AdapterTensorSpec[] {
  assertChannels(channels);
  return [
    ...alignmentStateDictSpec(channels).map((s) => ({
      name: ADAPTER_ALIGN_PREFIX + s.name,
      dtype: 'F32' as const,
      shape: s.shape,
    })),
    ...taskVaeStateDictSpec(channels).map((s) => ({
      name: ADAPTER_VAE_PREFIX + s.name,
      dtype: 'F32' as const,
      shape: s.shape,
    })),
  ];
}

export interface ValidateAdapterOptions {
  /** Image-embedding channels of the federation's base model. */
  channels: number;
  maxHeaderBytes?: number;
  maxMetadataBytes?: number;
  maxStringLength?: number;
  maxMetrics?: number;
}

const IDENT = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const TAU_KEYS = ['tau', 'p95', 'p99', 'mean', 'std', 'n', 'percentile'] as const;
const META_KEYS = [
  'format',
  'version',
  'taskId',
  'baseModel',
  'channels',
  'tau',
  'metrics',
  'createdAt',
] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function exactKeys(
  obj: Record<string, unknown>,
  keys: readonly string[],
  where: string,
  problems: string[],
): void {
  for (const k of keys) if (!(k in obj)) problems.push(`${where}: missing key ${k}`);
  for (const k of Object.keys(obj))
    if (!keys.includes(k)) problems.push(`${where}: unknown key ${JSON.stringify(k.slice(0, 64))}`);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkIdent(v: unknown, where: string, maxLen: number, problems: string[]): void {
  if (typeof v !== 'string') problems.push(`${where} must be a string`);
  else if (v.length === 0 || v.length > maxLen)
    problems.push(`${where} must be 1..${maxLen} characters, got ${v.length}`);
  else if (!IDENT.test(v))
    problems.push(`${where} may hold only letters, digits and . _ : - (starting with a letter or digit)`);
}

/** Problems of a parsed `casam` metadata object against the schema. */
function metadataProblems(meta: unknown, opts: Required<ValidateAdapterOptions>): string[] {
  const p: string[] = [];
  if (!isPlainObject(meta)) return ['metadata casam must be a JSON object'];
  exactKeys(meta, META_KEYS, 'metadata', p);
  if ('format' in meta && meta['format'] !== ADAPTER_FORMAT)
    p.push(`metadata format must be "${ADAPTER_FORMAT}"`);
  if ('version' in meta && meta['version'] !== ADAPTER_VERSION)
    p.push(
      `metadata version ${JSON.stringify(meta['version'])} is not supported (expected ${ADAPTER_VERSION})`,
    );
  if ('taskId' in meta) checkIdent(meta['taskId'], 'metadata taskId', opts.maxStringLength, p);
  if ('baseModel' in meta) {
    const bm = meta['baseModel'];
    if (!isPlainObject(bm)) p.push('metadata baseModel must be an object');
    else {
      exactKeys(bm, ['preset', 'fingerprint'], 'metadata baseModel', p);
      if ('preset' in bm) checkIdent(bm['preset'], 'metadata baseModel.preset', opts.maxStringLength, p);
      if (
        'fingerprint' in bm &&
        (typeof bm['fingerprint'] !== 'string' || !FINGERPRINT.test(bm['fingerprint']))
      )
        p.push('metadata baseModel.fingerprint must be "sha256:" and 64 lowercase hex digits');
    }
  }
  if ('channels' in meta && meta['channels'] !== opts.channels)
    p.push(
      `metadata channels ${JSON.stringify(meta['channels'])} does not match the base model's ${opts.channels}`,
    );
  if ('tau' in meta) {
    const t = meta['tau'];
    if (!isPlainObject(t)) p.push('metadata tau must be an object');
    else {
      exactKeys(t, TAU_KEYS, 'metadata tau', p);
      for (const k of TAU_KEYS)
        if (k in t && !isFiniteNumber(t[k])) p.push(`metadata tau.${k} must be a finite number`);
      if (isFiniteNumber(t['n']) && (!Number.isInteger(t['n']) || t['n'] < 1))
        p.push('metadata tau.n must be a positive integer');
      if (isFiniteNumber(t['std']) && t['std'] < 0) p.push('metadata tau.std must be ≥ 0');
      if (isFiniteNumber(t['percentile']) && !(t['percentile'] > 0 && t['percentile'] <= 100))
        p.push('metadata tau.percentile must lie in (0, 100]');
    }
  }
  if ('metrics' in meta) {
    const m = meta['metrics'];
    if (!isPlainObject(m)) p.push('metadata metrics must be an object of numbers');
    else {
      const keys = Object.keys(m);
      if (keys.length > opts.maxMetrics)
        p.push(`metadata metrics has ${keys.length} entries, over the limit of ${opts.maxMetrics}`);
      for (const k of keys.slice(0, opts.maxMetrics)) {
        const shown = JSON.stringify(k.slice(0, 64));
        if (k.length > ADAPTER_LIMITS.maxMetricNameLength || !METRIC_NAME.test(k))
          p.push(
            `metadata metrics name ${shown} must be 1..${ADAPTER_LIMITS.maxMetricNameLength} of letters, digits, . _ - starting with a letter`,
          );
        if (!isFiniteNumber(m[k])) p.push(`metadata metrics.${shown} must be a finite number`);
      }
    }
  }
  if ('createdAt' in meta) {
    const c = meta['createdAt'];
    if (typeof c !== 'string' || !ISO_UTC.test(c) || Number.isNaN(Date.parse(c)))
      p.push('metadata createdAt must be an ISO 8601 UTC timestamp like 2026-01-31T12:00:00.000Z');
  }
  return p;
}

function fail(problems: string[]): never {
  throw new AdapterValidationError(problems);
}

interface RawEntry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Checks an uploaded adapter file against the schema for `channels` and returns its content. Throws
 * `AdapterValidationError` listing every problem found.
 */
export function validateAdapterFile(buf: Uint8Array, options: ValidateAdapterOptions): AdapterFile {
  assertChannels(options.channels);
  const opts: Required<ValidateAdapterOptions> = {
    channels: options.channels,
    maxHeaderBytes: options.maxHeaderBytes ?? ADAPTER_LIMITS.maxHeaderBytes,
    maxMetadataBytes: options.maxMetadataBytes ?? ADAPTER_LIMITS.maxMetadataBytes,
    maxStringLength: options.maxStringLength ?? ADAPTER_LIMITS.maxStringLength,
    maxMetrics: options.maxMetrics ?? ADAPTER_LIMITS.maxMetrics,
  };
  if (!(buf instanceof Uint8Array)) fail(['adapter file must be bytes (Uint8Array)']);
  if (buf.byteLength < 8) fail([`file is ${buf.byteLength} bytes, too short for a safetensors header`]);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(opts.maxHeaderBytes))
    fail([`header is ${n64} bytes, over the limit of ${opts.maxHeaderBytes}`]);
  const n = Number(n64);
  if (8 + n > buf.byteLength)
    fail([`header length ${n} runs past the end of the ${buf.byteLength}-byte file`]);
  let text = '';
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (e) {
    fail([`header is not valid UTF-8 JSON: ${(e as Error).message}`]);
  }
  if (!isPlainObject(header)) fail(['header must be a JSON object']);

  const problems: string[] = [];
  const compact = text.replace(/ +$/, '');
  if (compact !== JSON.stringify(header) || text.length - compact.length > 7)
    problems.push(
      'header is not compact JSON padded with at most 7 spaces (extra whitespace or duplicate keys)',
    );

  // Tensors: exact set, F32, shapes, offsets; data covered exactly.
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const expected = new Map(expectedAdapterSchema(opts.channels).map((s) => [s.name, s]));
  const entries: RawEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const shown = JSON.stringify(name.slice(0, 80));
    const spec = expected.get(name);
    if (!spec) {
      problems.push(`unexpected tensor ${shown}`);
      continue;
    }
    if (!isPlainObject(raw)) {
      problems.push(`tensor ${name}: entry must be an object`);
      continue;
    }
    exactKeys(raw, ['dtype', 'shape', 'data_offsets'], `tensor ${name}`, problems);
    if (raw['dtype'] !== 'F32')
      problems.push(`tensor ${name}: dtype ${JSON.stringify(raw['dtype'])} where F32 is expected`);
    const shape = raw['shape'];
    const shapeOk =
      Array.isArray(shape) &&
      shape.length === spec.shape.length &&
      shape.every((d, i) => d === spec.shape[i]);
    if (!shapeOk)
      problems.push(`tensor ${name}: shape ${JSON.stringify(shape)} where [${spec.shape}] is expected`);
    const offs = raw['data_offsets'];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      problems.push(`tensor ${name}: data_offsets must be [begin, end]`);
      continue;
    }
    const [begin, end] = offs as [number, number];
    if (end < begin || end > dataLen) {
      problems.push(
        `tensor ${name}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section`,
      );
      continue;
    }
    const need = spec.shape.reduce((a, b) => a * b, 1) * 4;
    if (end - begin !== need) {
      problems.push(`tensor ${name}: ${end - begin} data bytes where ${need} are expected`);
      continue;
    }
    if (raw['dtype'] === 'F32' && shapeOk) entries.push({ name, shape: spec.shape, begin, end });
  }
  const present = new Set(Object.keys(header));
  for (const name of expected.keys()) if (!present.has(name)) problems.push(`missing tensor ${name}`);

  const ranges = Object.entries(header)
    .filter(([k, v]) => k !== '__metadata__' && isPlainObject(v) && Array.isArray(v['data_offsets']))
    .map(([, v]) => (v as { data_offsets: number[] }).data_offsets)
    .filter((o) => o.length === 2 && o.every((x) => Number.isSafeInteger(x) && x >= 0))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [b, e] of ranges) {
    if (b < covered) {
      problems.push(`tensor data overlaps at byte ${b}`);
      break;
    }
    if (b > covered) {
      problems.push(`data bytes ${covered}..${b} belong to no tensor`);
      break;
    }
    covered = Math.max(covered, e);
  }
  if (
    covered < dataLen &&
    !problems.some((p) => p.startsWith('tensor data overlaps') || p.startsWith('data bytes'))
  )
    problems.push(`${dataLen - covered} data bytes after the last tensor belong to no tensor`);

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const bytes = new Uint8Array(e.end - e.begin);
    bytes.set(buf.subarray(dataStart + e.begin, dataStart + e.end));
    const data = new Float32Array(bytes.buffer);
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
    if (bad) problems.push(`tensor ${e.name}: ${bad} NaN/Inf values`);
    tensors.set(e.name, float32Tensor([...e.shape], data));
  }

  // Metadata: exactly {casam: "<compact JSON>"} within the size limit.
  let metadata: unknown;
  const rawMeta = header['__metadata__'];
  if (!isPlainObject(rawMeta)) problems.push('__metadata__ is missing or not an object');
  else {
    exactKeys(rawMeta, [ADAPTER_METADATA_KEY], '__metadata__', problems);
    const s = rawMeta[ADAPTER_METADATA_KEY];
    if (ADAPTER_METADATA_KEY in rawMeta) {
      if (typeof s !== 'string') problems.push(`__metadata__.${ADAPTER_METADATA_KEY} must be a string`);
      else {
        const bytes = new TextEncoder().encode(s).byteLength;
        if (bytes > opts.maxMetadataBytes)
          problems.push(`metadata is ${bytes} bytes, over the limit of ${opts.maxMetadataBytes}`);
        else {
          try {
            metadata = JSON.parse(s);
            if (JSON.stringify(metadata) !== s) problems.push('metadata is not compact JSON');
            problems.push(...metadataProblems(metadata, opts));
          } catch (e) {
            problems.push(`metadata is not valid JSON: ${(e as Error).message}`);
          }
        }
      }
    }
  }

  if (problems.length) fail(problems);
  const align: StateDict = new Map();
  const vae: StateDict = new Map();
  for (const name of expected.keys()) {
    const t = tensors.get(name)!;
    if (name.startsWith(ADAPTER_ALIGN_PREFIX)) align.set(name.slice(ADAPTER_ALIGN_PREFIX.length), t);
    else vae.set(name.slice(ADAPTER_VAE_PREFIX.length), t);
  }
  return { metadata: metadata as AdapterMetadata, align, vae };
}

/** Reads an adapter, validating it for `channels` (default: the channels its metadata declares). */
export function readAdapterFile(buf: Uint8Array, opts: Partial<ValidateAdapterOptions> = {}): AdapterFile {
  let channels = opts.channels;
  if (channels === undefined) {
    // Peek at the declared channels only to pick the schema; the full check below still covers everything.
    const peek = peekChannels(buf, opts.maxHeaderBytes ?? ADAPTER_LIMITS.maxHeaderBytes);
    if (peek === null) throw new AdapterValidationError(['cannot read the channel count from the metadata']);
    channels = peek;
  }
  return validateAdapterFile(buf, { ...opts, channels });
}

function peekChannels(buf: Uint8Array, maxHeaderBytes: number): number | null {
  try {
    if (buf.byteLength < 8) return null;
    const n = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
    if (n > maxHeaderBytes || 8 + n > buf.byteLength) return null;
    const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
    const meta = JSON.parse(header['__metadata__'][ADAPTER_METADATA_KEY]);
    const c = meta['channels'];
    return Number.isInteger(c) && c >= 1 ? c : null;
  } catch {
    return null;
  }
}

export interface WriteAdapterInput {
  taskId: string;
  baseModel: { preset: string; fingerprint: string };
  tau: TauStats;
  metrics?: Record<string, number>;
  /** Default: now. */
  createdAt?: Date | string;
  align: StateDict;
  vae: StateDict;
}

/**
 * Serialises an adapter. The channel count comes from the Alignment Layer; the result is run through
 * `validateAdapterFile`, so anything written here is accepted by the coordinator (or this throws).
 */
export function writeAdapterFile(
  input: WriteAdapterInput,
  limits: Omit<ValidateAdapterOptions, 'channels'> = {},
): Uint8Array {
  const norm = input.align.get('norm.weight');
  if (!norm || norm.shape.length !== 1)
    throw new AdapterValidationError(['align state dict has no norm.weight [C]']);
  const channels = norm.shape[0];
  assertChannels(channels);
  const problems = [
    ...stateDictProblems(input.align, alignmentStateDictSpec(channels), ADAPTER_ALIGN_PREFIX),
    ...stateDictProblems(input.vae, taskVaeStateDictSpec(channels), ADAPTER_VAE_PREFIX),
  ];
  if (problems.length) throw new AdapterValidationError(problems);
  const createdAt =
    input.createdAt === undefined
      ? new Date().toISOString()
      : input.createdAt instanceof Date
        ? input.createdAt.toISOString()
        : input.createdAt;
  const t = input.tau;
  const metadata: AdapterMetadata = {
    format: ADAPTER_FORMAT,
    version: ADAPTER_VERSION,
    taskId: input.taskId,
    baseModel: { preset: input.baseModel.preset, fingerprint: input.baseModel.fingerprint },
    channels,
    tau: { tau: t.tau, p95: t.p95, p99: t.p99, mean: t.mean, std: t.std, n: t.n, percentile: t.percentile },
    metrics: { ...(input.metrics ?? {}) },
    createdAt,
  };
  const tensors: [string, HostTensor][] = [];
  for (const s of alignmentStateDictSpec(channels)) {
    const h = input.align.get(s.name)!;
    tensors.push([
      ADAPTER_ALIGN_PREFIX + s.name,
      float32Tensor([...s.shape], Float32Array.from(toFloat32(h))),
    ]);
  }
  for (const s of taskVaeStateDictSpec(channels)) {
    const h = input.vae.get(s.name)!;
    tensors.push([ADAPTER_VAE_PREFIX + s.name, float32Tensor([...s.shape], Float32Array.from(toFloat32(h)))]);
  }
  const buf = writeSafetensors(tensors, { [ADAPTER_METADATA_KEY]: JSON.stringify(metadata) });
  validateAdapterFile(buf, { ...limits, channels });
  return buf;
}
