/**
 * Tasks on the wire: a site proposes one, an admin approves, rejects or retires it and adds contributors.
 * Shared by the coordinator, the site agent and the admin UI. Depends on zod only.
 */
import { z } from 'zod';
import { MAX_REASON_LENGTH, ReasonRequestSchema } from './auth';
import { baseModelFingerprint, identifier, name, uuid } from './wire/wire-fields';

export type TaskStatusName = 'proposed' | 'approved' | 'rejected' | 'retired';

export const TASK_STATUSES: readonly TaskStatusName[] = ['proposed', 'approved', 'rejected', 'retired'];

/** Bounds the coordinator enforces on a proposal. */
export const TASK_LIMITS = Object.freeze({
  maxNameLength: 200,
  maxModalityLength: 50,
  maxTargetStructures: 32,
  maxTargetStructureLength: 100,
  maxReasonLength: MAX_REASON_LENGTH,
  maxPresetLength: 50,
});

/** Which frozen SAM a task's adapters are trained against. */
export interface TaskBaseModel {
  /** A key of `BASE_MODEL_PRESETS` (`vit_b`, `casam-tiny`…). */
  preset: string;
  /** `sha256:<64 hex>` of the base model's weights. */
  fingerprint: string;
}

/** `POST /api/v1/tasks` (a site). */
export const ProposeTaskRequestSchema = z.strictObject({
  /** Unique per proposing site. */
  name: name(TASK_LIMITS.maxNameLength),
  /** e.g. `CT`, `MR`, `US`, `endoscopy`. */
  modality: name(TASK_LIMITS.maxModalityLength),
  /** e.g. `["liver"]`; at least one. */
  targetStructures: z
    .array(name(TASK_LIMITS.maxTargetStructureLength))
    .min(1)
    .max(TASK_LIMITS.maxTargetStructures),
  baseModel: z.strictObject({
    preset: identifier(TASK_LIMITS.maxPresetLength),
    fingerprint: baseModelFingerprint,
  }),
});
export type ProposeTaskRequest = z.infer<typeof ProposeTaskRequestSchema>;
/** The coordinator names an unknown preset itself (`unknown_base_model_preset`, with the known ones). */
export const PROPOSE_TASK_SERVICE_CHECKED = {
  baseModel: z.strictObject({
    preset: z.string().min(1).max(TASK_LIMITS.maxPresetLength),
    fingerprint: baseModelFingerprint,
  }),
} as const;

/** `POST /api/v1/tasks/:id/reject` and `…/retire` (an admin). */
export const TaskDecisionRequestSchema = ReasonRequestSchema;
export type TaskDecisionRequest = z.infer<typeof TaskDecisionRequestSchema>;

/** `POST /api/v1/tasks/:id/contributors` (an admin). */
export const AddTaskContributorRequestSchema = z.strictObject({ siteId: uuid });
export type AddTaskContributorRequest = z.infer<typeof AddTaskContributorRequestSchema>;

/** `GET /api/v1/tasks?status=` */
export const ListTasksQuerySchema = z.strictObject({
  status: z.enum(['proposed', 'approved', 'rejected', 'retired']).optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuerySchema>;

/** A task as the API shows it. Times are ISO 8601. */
export interface TaskSummary {
  id: string;
  name: string;
  modality: string;
  targetStructures: string[];
  baseModel: TaskBaseModel;
  /** Image-embedding channels of the preset: every adapter of this task has this width. */
  embeddingChannels: number;
  status: TaskStatusName;
  /** Why it was rejected or retired. */
  statusReason: string | null;
  decidedById: string | null;
  decidedAt: string | null;
  proposedBySiteId: string;
  /** Sites other than the proposer allowed to upload adapters. */
  contributorSiteIds: string[];
  createdAt: string;
  updatedAt: string;
}
