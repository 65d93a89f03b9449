/**
 * Adapter uploads and adapter versions on the wire. An upload is chunked and resumable:
 *
 *   1. `POST /api/v1/uploads` {taskId, totalSize, sha256, chunkSize} → {uploadId, chunkCount, receivedChunks…}
 *   2. `PUT /api/v1/uploads/:id/chunks/:index` raw bytes (`application/octet-stream`) with the chunk's sha256 in
 *      `x-casam-chunk-sha256`, any order, any number at once; sending a finished chunk again is harmless
 *   3. `GET /api/v1/uploads/:id` → which chunks arrived (after a restart of either side, send the others)
 *   4. `POST /api/v1/uploads/:id/complete` {signature}: a compact JWS by the site key over
 *      {uploadId, taskId, sha256, size} with aud {@link ADAPTER_UPLOAD_AUDIENCE} → a `pending` adapter version
 *
 * Depends on zod only.
 */
import type { AdapterCompatibility } from './adapter-compatibility';
import { z } from 'zod';
import { MAX_JWS_FIELD_LENGTH, MAX_SITE_JWS_LENGTH, ReasonRequestSchema } from './auth';
import type { AdapterVerdict } from './adapter-verdict';
import type { AdapterKind, DecoderLoraSummary } from './adapter-decoder-lora';
import type { AdapterTauStats } from './adapter-schema';
import type { TaskBaseModel } from './tasks';
import { compactJws, epochSeconds, jti, sha256Hex, uuid } from './wire/wire-fields';

/** `aud` of the signature that completes an adapter upload. */
export const ADAPTER_UPLOAD_AUDIENCE = 'casam-coordinator/adapter-upload';
/** Request header carrying a chunk's sha256 (lower-case hex). */
export const CHUNK_SHA256_HEADER = 'x-casam-chunk-sha256';
/** Content type of a chunk body. */
export const CHUNK_CONTENT_TYPE = 'application/octet-stream';

/**
 * The limits of an adapter upload, as the coordinator enforces them (413 `upload_too_large`, 400
 * `invalid_chunk_size`, 409 `too_many_open_uploads`). The one place they are written: the upload request's
 * schema, the site agent's egress allowlist and its `upload --chunk-size` range are made from these.
 */
export const UPLOAD_LIMITS = Object.freeze({
  /** Largest adapter file (vit_h adapters are ~ 14 MiB). */
  maxTotalBytes: 64 * 1024 * 1024,
  minChunkBytes: 64 * 1024,
  maxChunkBytes: 8 * 1024 * 1024,
  /** An upload not completed this long after it was opened expires, and its chunks are deleted. */
  sessionTtlSeconds: 24 * 3600,
  /** Uploads one site may have open at once. */
  maxOpenUploadsPerSite: 8,
});

export type UploadStatusName = 'open' | 'completed' | 'aborted' | 'expired';

/** `POST /api/v1/uploads` (a site). */
export const CreateUploadRequestSchema = z.strictObject({
  taskId: uuid,
  /** Bytes of the whole adapter file. */
  totalSize: z.int().min(1).max(UPLOAD_LIMITS.maxTotalBytes),
  /** sha256 of the whole adapter file, lower-case hex. */
  sha256: sha256Hex,
  /** Bytes per chunk; every chunk but the last has exactly this size. */
  chunkSize: z.int().min(UPLOAD_LIMITS.minChunkBytes).max(UPLOAD_LIMITS.maxChunkBytes),
});
export type CreateUploadRequest = z.infer<typeof CreateUploadRequestSchema>;
/** The coordinator answers a size over the limits with codes of its own (413 upload_too_large, 400 invalid_chunk_size). */
export const CREATE_UPLOAD_SERVICE_CHECKED = {
  totalSize: z.int().min(1),
  chunkSize: z.int().min(1),
} as const;

/** Whether `chunkSize` is one the coordinator takes (UPLOAD_LIMITS). */
export function isUploadChunkSize(chunkSize: number): boolean {
  return CreateUploadRequestSchema.shape.chunkSize.safeParse(chunkSize).success;
}

/** An upload session (`POST /api/v1/uploads`, `GET /api/v1/uploads/:id`). */
export interface UploadSessionResponse {
  uploadId: string;
  taskId: string | null;
  status: UploadStatusName;
  /** Why it was aborted or expired. */
  statusReason: string | null;
  totalSize: number;
  sha256: string;
  chunkSize: number;
  chunkCount: number;
  /** Indexes of the chunks the coordinator holds, ascending. */
  receivedChunks: number[];
  /** ISO 8601. */
  expiresAt: string;
  /** Set once completed. */
  adapterVersionId: string | null;
}

/** `PUT /api/v1/uploads/:id/chunks/:index`: 201 when stored now, 200 when it was already there. */
export interface UploadChunkResponse {
  uploadId: string;
  index: number;
  size: number;
  sha256: string;
  /** False when this exact chunk had arrived before. */
  created: boolean;
  /** How many of the chunkCount chunks the coordinator holds now. */
  receivedCount: number;
}

/** The claims the site signs to complete an upload (with `aud` = {@link ADAPTER_UPLOAD_AUDIENCE}). */
export interface AdapterUploadClaims {
  uploadId: string;
  taskId: string;
  sha256: string;
  size: number;
}

/** The whole payload of an upload signature: the claims, who signs, `aud` and the JWT times. */
export const AdapterUploadSignatureClaimsSchema = z.strictObject({
  uploadId: uuid,
  taskId: uuid,
  sha256: sha256Hex,
  size: CreateUploadRequestSchema.shape.totalSize,
  sub: uuid,
  aud: z.literal(ADAPTER_UPLOAD_AUDIENCE),
  jti,
  iat: epochSeconds,
  exp: epochSeconds,
});

/** `POST /api/v1/uploads/:id/complete` */
export const CompleteUploadRequestSchema = z.strictObject({
  /** Compact JWS (EdDSA, `kid` = the site key's fingerprint) over {@link AdapterUploadClaims} + `aud`. */
  signature: compactJws(MAX_SITE_JWS_LENGTH),
});
export type CompleteUploadRequest = z.infer<typeof CompleteUploadRequestSchema>;
/** A bad signature is the service's 422 `upload_signature_invalid`, which lists what is wrong with it. */
export const COMPLETE_UPLOAD_SERVICE_CHECKED = {
  signature: z.string().min(1).max(MAX_JWS_FIELD_LENGTH),
} as const;

/** `POST /api/v1/adapters/:id/reject` (an admin). */
export const AdapterDecisionRequestSchema = ReasonRequestSchema;
export type AdapterDecisionRequest = z.infer<typeof AdapterDecisionRequestSchema>;

export type AdapterVersionStatusName = 'pending' | 'approved' | 'rejected';

/** An adapter version (`GET /api/v1/adapters/:id`, the task's list, the upload's completion). */
export interface AdapterVersionSummary {
  id: string;
  taskId: string;
  /** The site that uploaded it. */
  siteId: string;
  /** 1, 2, 3… per task. */
  version: number;
  status: AdapterVersionStatusName;
  statusReason: string | null;
  decidedById: string | null;
  decidedAt: string | null;
  baseModel: TaskBaseModel;
  channels: number;
  /** The adapter file's format version: 1 (Alignment Layer), 2 (with a decoder delta). */
  formatVersion: number;
  kind: AdapterKind;
  /** The decoder delta of a version 2 adapter (rank, alpha, number of layers); null for version 1. */
  decoderLora: DecoderLoraSummary | null;
  tau: AdapterTauStats;
  /** Site-reported validation metrics (e.g. dice, iou). */
  metrics: Record<string, number>;
  /** Against frozen SAM and box-fill, derived from `metrics` (adapterVerdict). */
  verdict: AdapterVerdict;
  /** sha256 of the adapter file (`GET /api/v1/adapters/:id/file` serves it with this ETag). */
  sha256: string;
  sizeBytes: number;
  /** Fingerprint of the site key that signed the upload. */
  signedByKeyFingerprint: string | null;
  createdAt: string;
  /**
   * Which enrolled (approved) sites run an agent too old to read this version's format
   * (`ADAPTER_FORMAT_FIRST_AGENT_VERSION`): present on `GET /api/v1/adapters/:id`, the task's list and approve's
   * answer. The admin UI shows it beside Approve; approving anyway is allowed and audited with the warning.
   */
  compatibility?: AdapterCompatibility;
}

/** `POST /api/v1/uploads/:id/complete` */
export interface CompleteUploadResponse {
  upload: UploadSessionResponse;
  adapter: AdapterVersionSummary;
}

/** Number of chunks of an upload. */
export function uploadChunkCount(totalSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(totalSize / chunkSize));
}

/** Exact byte size of chunk `index`: `chunkSize`, except the last, which holds the rest. */
export function uploadChunkLength(totalSize: number, chunkSize: number, index: number): number {
  const count = uploadChunkCount(totalSize, chunkSize);
  return index < count - 1 ? chunkSize : totalSize - chunkSize * (count - 1);
}
