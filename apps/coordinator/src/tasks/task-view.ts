import type { TaskSummary } from '@casam/protocol';
import type { TaskWithContributors } from './task.repository';

/** The API's view of a task. */
export function toTaskSummary(t: TaskWithContributors): TaskSummary {
  return {
    id: t.id,
    name: t.name,
    modality: t.modality,
    targetStructures: [...t.targetStructures],
    baseModel: { preset: t.baseModelPreset, fingerprint: t.baseModelFingerprint },
    embeddingChannels: t.embeddingChannels,
    status: t.status,
    statusReason: t.statusReason,
    decidedById: t.decidedById,
    decidedAt: t.decidedAt ? t.decidedAt.toISOString() : null,
    proposedBySiteId: t.proposedBySiteId,
    contributorSiteIds: t.contributors.map((c) => c.siteId),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}
