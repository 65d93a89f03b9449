/**
 * The coordinator's check of an uploaded CA-SAM adapter: one safetensors file with a task's trained weights and
 * nothing else.
 *
 *   tensors       `align.<Alignment Layer state dict>` then `vae.<TaskVAE state dict>`, all F32, PyTorch layout;
 *                 version 2 adds `decoder_lora.<layer>.A/B` (adapter-decoder-lora.ts)
 *   __metadata__  exactly one key, `casam`, whose value is compact JSON:
 *                 {format:'casam-adapter', version:1, taskId, baseModel:{preset, fingerprint}, channels,
 *                  tau:{tau,p95,p99,mean,std,n,percentile}, metrics:{name: number}, createdAt}
 *                 version 2: the same keys and `decoderLora:{rank, alpha, layers}`
 *
 * Both versions are accepted; a version this reader does not know is refused with a message that names the ones
 * it knows (a version 1 reader refuses version 2 files by their version, unknown key and unexpected tensors).
 * Strict so that no pixel data can ride along: exact tensor set, shapes and dtype; finite values; the data
 * section covered exactly by the tensors (no gaps, overlaps or trailing bytes); the header in the compact form
 * safetensors writers emit (no extra whitespace, no duplicate keys, no unknown fields); bounded header and
 * metadata sizes; the metadata in the exact schema (no unknown keys, numbers only in metrics, short identifier
 * strings). Every problem is listed. Depends on nothing: tensors come back as plain Float32Array records.
 */
import {
  ADAPTER_ALIGN_PREFIX,
  ADAPTER_FORMAT,
  ADAPTER_LIMITS,
  ADAPTER_METADATA_KEY,
  ADAPTER_VAE_PREFIX,
  AdapterMetadata,
  BASE_MODEL_FINGERPRINT_PATTERN,
  assertChannels,
  expectedAdapterSchema,
} from './adapter-schema';
import {
  ADAPTER_DECODER_LORA_PREFIX,
  ADAPTER_VERSIONS,
  ADAPTER_VERSION_DECODER_LORA,
  type AdapterDecoderLoraMetadata,
  decoderLoraMetadataProblems,
} from './adapter-decoder-lora';

/** One tensor of a validated adapter (F32, PyTorch layout). */
export interface AdapterTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A validated adapter: its metadata and its state dicts in schema order (names without prefix). */
export interface ValidatedAdapterFile {
  metadata: AdapterMetadata;
  /** Alignment Layer state dict (names without `align.`). */
  align: AdapterTensor[];
  /** TaskVAE state dict (names without `vae.`). */
  vae: AdapterTensor[];
  /** Version 2: the decoder delta's tensors (names without `decoder_lora.`, e.g. `<layer>.A`); else empty. */
  decoderLora: AdapterTensor[];
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
  const v2 = meta['version'] === ADAPTER_VERSION_DECODER_LORA;
  exactKeys(meta, v2 ? [...META_KEYS, 'decoderLora'] : META_KEYS, 'metadata', p);
  if ('format' in meta && meta['format'] !== ADAPTER_FORMAT)
    p.push(`metadata format must be "${ADAPTER_FORMAT}"`);
  if ('version' in meta && !(ADAPTER_VERSIONS as readonly unknown[]).includes(meta['version']))
    p.push(
      `metadata version ${JSON.stringify(meta['version'])} is not supported: this reader knows versions ` +
        `${ADAPTER_VERSIONS.join(' and ')} (a newer coordinator or site agent may be needed)`,
    );
  if (!v2 && 'decoderLora' in meta)
    p.push(`metadata decoderLora needs version ${ADAPTER_VERSION_DECODER_LORA}`);
  if (v2 && 'decoderLora' in meta) p.push(...decoderLoraMetadataProblems(meta['decoderLora'], opts.channels));
  if ('taskId' in meta) checkIdent(meta['taskId'], 'metadata taskId', opts.maxStringLength, p);
  if ('baseModel' in meta) {
    const bm = meta['baseModel'];
    if (!isPlainObject(bm)) p.push('metadata baseModel must be an object');
    else {
      exactKeys(bm, ['preset', 'fingerprint'], 'metadata baseModel', p);
      if ('preset' in bm) checkIdent(bm['preset'], 'metadata baseModel.preset', opts.maxStringLength, p);
      if (
        'fingerprint' in bm &&
        (typeof bm['fingerprint'] !== 'string' || !BASE_MODEL_FINGERPRINT_PATTERN.test(bm['fingerprint']))
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
export function validateAdapterFile(buf: Uint8Array, options: ValidateAdapterOptions): ValidatedAdapterFile {
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

  // Tensors: exact set, F32, shapes, offsets; data covered exactly. The set depends on the metadata: a valid
  // version 2 delta adds its tensors; an invalid one was reported above, and its tensors are not judged again.
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const lora = validLora(metadata, opts.channels);
  const loraUnjudged =
    lora === undefined && isPlainObject(metadata) && metadata['version'] === ADAPTER_VERSION_DECODER_LORA;
  const expected = new Map(expectedAdapterSchema(opts.channels, lora).map((s) => [s.name, s]));
  const entries: RawEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const shown = JSON.stringify(name.slice(0, 80));
    const spec = expected.get(name);
    if (!spec && loraUnjudged && name.startsWith(ADAPTER_DECODER_LORA_PREFIX)) continue;
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

  const tensors = new Map<string, AdapterTensor>();
  for (const e of entries) {
    const bytes = new Uint8Array(e.end - e.begin);
    bytes.set(buf.subarray(dataStart + e.begin, dataStart + e.end));
    const data = new Float32Array(bytes.buffer);
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
    if (bad) problems.push(`tensor ${e.name}: ${bad} NaN/Inf values`);
    tensors.set(e.name, { name: e.name, shape: [...e.shape], data });
  }

  if (problems.length) fail(problems);
  const align: AdapterTensor[] = [];
  const vae: AdapterTensor[] = [];
  const decoderLora: AdapterTensor[] = [];
  for (const name of expected.keys()) {
    const t = tensors.get(name)!;
    if (name.startsWith(ADAPTER_ALIGN_PREFIX))
      align.push({ ...t, name: name.slice(ADAPTER_ALIGN_PREFIX.length) });
    else if (name.startsWith(ADAPTER_VAE_PREFIX))
      vae.push({ ...t, name: name.slice(ADAPTER_VAE_PREFIX.length) });
    else decoderLora.push({ ...t, name: name.slice(ADAPTER_DECODER_LORA_PREFIX.length) });
  }
  return { metadata: metadata as AdapterMetadata, align, vae, decoderLora };
}

/** The metadata's decoder delta when the metadata is version 2 and the delta's entry is valid. */
function validLora(metadata: unknown, channels: number): AdapterDecoderLoraMetadata | undefined {
  if (!isPlainObject(metadata) || metadata['version'] !== ADAPTER_VERSION_DECODER_LORA) return undefined;
  const lora = metadata['decoderLora'];
  if (lora === undefined || decoderLoraMetadataProblems(lora, channels).length) return undefined;
  return lora as AdapterDecoderLoraMetadata;
}

/**
 * An adapter file's `casam` metadata as it is written, unchecked, or null when it cannot be read. Only for what a
 * reader decides before validating (the schema to validate against, whether it reads that version at all):
 * `validateAdapterFile` still checks everything.
 */
export function peekAdapterMetadata(
  buf: Uint8Array,
  maxHeaderBytes: number = ADAPTER_LIMITS.maxHeaderBytes,
): Record<string, unknown> | null {
  try {
    if (buf.byteLength < 8) return null;
    const n = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
    if (n > maxHeaderBytes || 8 + n > buf.byteLength) return null;
    const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
    const meta: unknown = JSON.parse(header['__metadata__'][ADAPTER_METADATA_KEY]);
    return isPlainObject(meta) ? meta : null;
  } catch {
    return null;
  }
}

/**
 * The channel count an adapter file's metadata declares, or null when it cannot be read. Only for picking the
 * schema to validate against: `validateAdapterFile` still checks everything.
 */
export function peekAdapterChannels(
  buf: Uint8Array,
  maxHeaderBytes: number = ADAPTER_LIMITS.maxHeaderBytes,
): number | null {
  const c = peekAdapterMetadata(buf, maxHeaderBytes)?.['channels'];
  return Number.isInteger(c) && (c as number) >= 1 ? (c as number) : null;
}
