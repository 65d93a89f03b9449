import {
  type AdapterDecoderLoraMetadata,
  adapterKind,
  adapterVerdict,
  decoderLoraSummary,
  type DecoderLoraSummary,
  type AdapterTauStats,
  type AdapterVersionSummary,
  type UploadSessionResponse,
} from '@casam/protocol';
import type { AdapterVersionWithTask } from './adapter-version.repository';
import type { UploadSessionWithChunks } from './upload-session.repository';

/** The API's view of an adapter version. */
export function toAdapterVersionSummary(v: AdapterVersionWithTask): AdapterVersionSummary {
  return {
    id: v.id,
    taskId: v.taskId,
    siteId: v.siteId,
    version: v.version,
    status: v.status,
    statusReason: v.statusReason,
    decidedById: v.decidedById,
    decidedAt: v.decidedAt ? v.decidedAt.toISOString() : null,
    baseModel: { preset: v.task.baseModelPreset, fingerprint: v.baseModelFingerprint },
    channels: v.task.embeddingChannels,
    formatVersion: v.formatVersion,
    kind: adapterKind(v.decoderLora),
    decoderLora: storedDecoderLoraSummary(v.decoderLora),
    tau: v.tauStats as unknown as AdapterTauStats,
    metrics: v.metrics as Record<string, number>,
    verdict: adapterVerdict(v.metrics as Record<string, number>),
    sha256: v.adapterBlobHash,
    sizeBytes: v.sizeBytes,
    signedByKeyFingerprint: v.signedByKey?.fingerprint ?? null,
    createdAt: v.createdAt.toISOString(),
  };
}

/**
 * The summary of a stored decoder delta (`{rank, alpha, layers: [names]}` as the validated file declared it),
 * or null for a version 1 adapter.
 */
export function storedDecoderLoraSummary(stored: unknown): DecoderLoraSummary | null {
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return null;
  return decoderLoraSummary(stored as AdapterDecoderLoraMetadata);
}

/** The API's view of an upload session. */
export function toUploadSessionResponse(s: UploadSessionWithChunks): UploadSessionResponse {
  return {
    uploadId: s.id,
    taskId: s.taskId,
    status: s.status,
    statusReason: s.statusReason,
    totalSize: Number(s.totalSize),
    sha256: s.sha256,
    chunkSize: s.chunkSize,
    chunkCount: s.chunkCount,
    receivedChunks: s.chunks.map((c) => c.index),
    expiresAt: s.expiresAt.toISOString(),
    adapterVersionId: s.adapterVersion?.id ?? null,
  };
}
