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
 * Depends on nothing.
 */
import type { AdapterVerdict } from './adapter-verdict';
import type { AdapterTauStats } from './adapter-schema';
import type { TaskBaseModel } from './tasks';

/** `aud` of the signature that completes an adapter upload. */
export const ADAPTER_UPLOAD_AUDIENCE = 'casam-coordinator/adapter-upload';
/** Request header carrying a chunk's sha256 (lower-case hex). */
export const CHUNK_SHA256_HEADER = 'x-casam-chunk-sha256';
/** Content type of a chunk body. */
export const CHUNK_CONTENT_TYPE = 'application/octet-stream';

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
export interface CreateUploadRequest {
  taskId: string;
  /** Bytes of the whole adapter file. */
  totalSize: number;
  /** sha256 of the whole adapter file, lower-case hex. */
  sha256: string;
  /** Bytes per chunk; every chunk but the last has exactly this size. */
  chunkSize: number;
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

/** `POST /api/v1/uploads/:id/complete` */
export interface CompleteUploadRequest {
  /** Compact JWS (EdDSA, `kid` = the site key's fingerprint) over {@link AdapterUploadClaims} + `aud`. */
  signature: string;
}

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
