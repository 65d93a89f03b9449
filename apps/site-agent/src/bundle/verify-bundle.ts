import { createHash } from 'node:crypto';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, errors, type JSONWebKeySet } from 'jose';
import {
  ADAPTER_VERSIONS,
  ADAPTER_VERSION_DECODER_LORA,
  BUNDLE_FORMAT,
  BUNDLE_JWS_ALGORITHM,
  BUNDLE_JWS_PATH,
  BUNDLE_JWS_TYPE,
  BUNDLE_MANIFEST_PATH,
  type BundleManifest,
  type BundleTask,
  bundleAdapterPath,
  type DecoderLoraSummary,
  peekAdapterMetadata,
  readUstar,
  type UstarEntry,
  UstarError,
} from '@casam/protocol';

export type BundleVerificationCode =
  | 'archive_malformed'
  | 'content_hash_mismatch'
  | 'missing_entry'
  | 'unexpected_entry'
  | 'jws_malformed'
  | 'unknown_kid'
  | 'signature_invalid'
  | 'manifest_mismatch'
  | 'manifest_invalid'
  | 'adapter_size_mismatch'
  | 'adapter_hash_mismatch'
  | 'adapter_unreadable'
  | 'adapter_version_unsupported'
  | 'adapter_kind_mismatch';

/** The bundle must not be used; `code` says why (stable), the message says what exactly. */
export class BundleVerificationError extends Error {
  override name = 'BundleVerificationError';
  constructor(
    readonly code: BundleVerificationCode,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifiedBundle {
  manifest: BundleManifest;
  /** The coordinator key that signed it. */
  kid: string;
  /** sha256 of the whole archive. */
  contentHash: string;
  /** Each task's adapter file (views into the archive), by task id. */
  adapters: Map<string, Uint8Array>;
}

export interface VerifyBundleOptions {
  /** The archive's expected sha256 (the ETag it was served with, or the bundle record's contentHash). */
  expectedContentHash?: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Checks a router bundle before a site loads it: the archive is a strict ustar with exactly the manifest, the
 * JWS and one adapter per task; the JWS is signed (EdDSA, typ `casam-bundle+jws`) by a key of the coordinator's
 * JWKS (a site pins it); its payload is byte for byte the archive's manifest.json; every adapter file has the
 * size and sha256 the manifest states, and the format version and decoder delta its entry names (an adapter
 * format this agent does not read refuses the whole bundle, naming the task: upgrade the agent). Throws {@link BundleVerificationError} naming the first problem.
 */
export async function verifyBundle(
  archive: Uint8Array,
  jwks: JSONWebKeySet,
  options: VerifyBundleOptions = {},
): Promise<VerifiedBundle> {
  const contentHash = sha256(archive);
  if (options.expectedContentHash !== undefined && options.expectedContentHash !== contentHash)
    throw new BundleVerificationError(
      'content_hash_mismatch',
      `archive hashes to ${contentHash}, expected ${options.expectedContentHash} (incomplete or altered download)`,
    );

  let entries: UstarEntry[];
  try {
    entries = readUstar(archive);
  } catch (e) {
    if (e instanceof UstarError)
      throw new BundleVerificationError('archive_malformed', `not a bundle archive: ${e.message}`);
    throw e;
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const bytesOf = (e: UstarEntry) => archive.subarray(e.offset, e.offset + e.size);
  const manifestEntry = byName.get(BUNDLE_MANIFEST_PATH);
  const jwsEntry = byName.get(BUNDLE_JWS_PATH);
  if (!manifestEntry)
    throw new BundleVerificationError('missing_entry', `the archive has no ${BUNDLE_MANIFEST_PATH}`);
  if (!jwsEntry) throw new BundleVerificationError('missing_entry', `the archive has no ${BUNDLE_JWS_PATH}`);

  const jws = new TextDecoder().decode(bytesOf(jwsEntry)).trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new BundleVerificationError('jws_malformed', `${BUNDLE_JWS_PATH} is not a compact JWS`);
  }
  if (header.alg !== BUNDLE_JWS_ALGORITHM || header.typ !== BUNDLE_JWS_TYPE || typeof header.kid !== 'string')
    throw new BundleVerificationError(
      'jws_malformed',
      `${BUNDLE_JWS_PATH} must have alg ${BUNDLE_JWS_ALGORITHM}, typ ${BUNDLE_JWS_TYPE} and a kid; got alg ${String(header.alg)}, typ ${String(header.typ)}`,
    );
  const kid = header.kid;
  if (!jwks.keys.some((k) => k.kid === kid))
    throw new BundleVerificationError(
      'unknown_kid',
      `the bundle is signed with key ${kid}, which is not in the coordinator's key set (refresh the JWKS; if it is still missing, do not trust the bundle)`,
    );
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: [BUNDLE_JWS_ALGORITHM] }));
  } catch (e) {
    if (e instanceof errors.JWKSNoMatchingKey)
      throw new BundleVerificationError('unknown_kid', `no usable key ${kid} in the coordinator's key set`);
    throw new BundleVerificationError(
      'signature_invalid',
      `the manifest signature does not verify with key ${kid}`,
    );
  }
  const manifestBytes = bytesOf(manifestEntry);
  if (!equalBytes(payload, manifestBytes))
    throw new BundleVerificationError(
      'manifest_mismatch',
      `${BUNDLE_MANIFEST_PATH} differs from the signed manifest in ${BUNDLE_JWS_PATH}`,
    );
  const manifest = parseManifest(manifestBytes);

  const expected = new Set([BUNDLE_MANIFEST_PATH, BUNDLE_JWS_PATH, ...manifest.tasks.map((t) => t.path)]);
  for (const e of entries)
    if (!expected.has(e.name))
      throw new BundleVerificationError(
        'unexpected_entry',
        `the archive holds ${e.name}, which the manifest does not list`,
      );
  const adapters = new Map<string, Uint8Array>();
  for (const task of manifest.tasks) {
    const entry = byName.get(task.path);
    if (!entry)
      throw new BundleVerificationError(
        'missing_entry',
        `the archive has no ${task.path} (task ${task.taskId})`,
      );
    if (entry.size !== task.size)
      throw new BundleVerificationError(
        'adapter_size_mismatch',
        `${task.path} has ${entry.size} bytes, the manifest says ${task.size}`,
      );
    const bytes = bytesOf(entry);
    const actual = sha256(bytes);
    if (actual !== task.sha256)
      throw new BundleVerificationError(
        'adapter_hash_mismatch',
        `${task.path} hashes to ${actual}, the manifest says ${task.sha256}`,
      );
    checkAdapterFormat(task, bytes);
    adapters.set(task.taskId, bytes);
  }
  return { manifest, kid, contentHash, adapters };
}

/**
 * The adapter file's format version must be one this agent reads, and the entry's `adapterFormatVersion`
 * (absent: 1) and `decoderLora` must be the file's: a signed manifest that disagrees with its file was built
 * wrongly or altered. The file itself is validated in full when it is loaded.
 */
function checkAdapterFormat(task: BundleTask, file: Uint8Array): void {
  const shown = `task ${typeof task.name === 'string' ? `"${task.name}" ` : ''}(${task.taskId})`;
  const meta = peekAdapterMetadata(file);
  const version = meta?.['version'];
  if (!meta || !Number.isSafeInteger(version))
    throw new BundleVerificationError(
      'adapter_unreadable',
      `${task.path} of ${shown} has no readable adapter metadata (format version)`,
    );
  if (!(ADAPTER_VERSIONS as readonly unknown[]).includes(version))
    throw new BundleVerificationError(
      'adapter_version_unsupported',
      `the adapter of ${shown} is format version ${String(version)}, which this site agent cannot read ` +
        `(it reads versions ${ADAPTER_VERSIONS.join(' and ')}): upgrade the site agent`,
    );
  const declared = task.adapterFormatVersion ?? 1;
  if (declared !== version)
    throw new BundleVerificationError(
      'adapter_kind_mismatch',
      `the manifest says ${shown}'s adapter is format version ${JSON.stringify(declared)}, ${task.path} is version ${String(version)}`,
    );
  const lora = meta['decoderLora'] as { rank?: unknown; alpha?: unknown; layers?: unknown } | undefined;
  const inFile: DecoderLoraSummary | null =
    version === ADAPTER_VERSION_DECODER_LORA && isObject(lora)
      ? {
          rank: lora.rank as number,
          alpha: lora.alpha as number,
          layers: Array.isArray(lora.layers) ? lora.layers.length : NaN,
        }
      : null;
  const inManifest = task.decoderLora ?? null;
  const same =
    inFile === null || !isObject(inManifest)
      ? inFile === inManifest
      : (['rank', 'alpha', 'layers'] as const).every((k) => inManifest[k] === inFile[k]) &&
        Object.keys(inManifest).length === 3;
  if (!same)
    throw new BundleVerificationError(
      'adapter_kind_mismatch',
      `the manifest says ${shown}'s decoder delta is ${JSON.stringify(inManifest)}, ${task.path} carries ${JSON.stringify(inFile)}`,
    );
}

function parseManifest(bytes: Uint8Array): BundleManifest {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BundleVerificationError('manifest_invalid', `${BUNDLE_MANIFEST_PATH} is not UTF-8 JSON`);
  }
  const bad = (what: string): never => {
    throw new BundleVerificationError('manifest_invalid', `signed manifest: ${what}`);
  };
  if (!isObject(m)) return bad('not an object');
  if (m['format'] !== BUNDLE_FORMAT) bad(`format must be ${BUNDLE_FORMAT}`);
  if (!isCount(m['bundleVersion']) || (m['bundleVersion'] as number) < 1)
    bad('bundleVersion must be a positive integer');
  if (typeof m['protocolVersion'] !== 'string') bad('protocolVersion missing');
  if (typeof m['createdAt'] !== 'string') bad('createdAt missing');
  if (!Array.isArray(m['tasks'])) return bad('tasks must be a list');
  const tasks = m['tasks'] as unknown[];
  const base = m['baseModel'];
  if (tasks.length > 0 && !isObject(base)) bad('baseModel missing');
  if (
    isObject(base) &&
    (typeof base['fingerprint'] !== 'string' ||
      typeof base['preset'] !== 'string' ||
      !isCount(base['channels']))
  )
    bad('baseModel needs fingerprint, preset and channels');
  const seen = new Set<string>();
  for (const [i, t] of tasks.entries()) {
    if (!isObject(t)) return bad(`tasks[${i}] is not an object`);
    const task = t as Partial<BundleTask>;
    if (typeof task.taskId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(task.taskId))
      bad(`tasks[${i}].taskId is not an id`);
    if (seen.has(task.taskId as string)) bad(`task ${task.taskId} is listed twice`);
    seen.add(task.taskId as string);
    if (task.path !== bundleAdapterPath(task.taskId as string))
      bad(`tasks[${i}].path must be ${bundleAdapterPath(task.taskId as string)}`);
    if (typeof task.sha256 !== 'string' || !SHA256_HEX.test(task.sha256))
      bad(`tasks[${i}].sha256 is not a sha256`);
    if (!isCount(task.size)) bad(`tasks[${i}].size is not a byte count`);
    if (typeof task.tau !== 'number' || !Number.isFinite(task.tau)) bad(`tasks[${i}].tau is not a number`);
  }
  return m as unknown as BundleManifest;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isCount(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
