/**
 * Tasks on the wire: a site proposes one, an admin approves, rejects or retires it and adds contributors.
 * Shared by the coordinator, the site agent and the admin UI. Depends on nothing.
 */

export type TaskStatusName = 'proposed' | 'approved' | 'rejected' | 'retired';

export const TASK_STATUSES: readonly TaskStatusName[] = ['proposed', 'approved', 'rejected', 'retired'];

/** Bounds the coordinator enforces on a proposal. */
export const TASK_LIMITS = Object.freeze({
  maxNameLength: 200,
  maxModalityLength: 50,
  maxTargetStructures: 32,
  maxTargetStructureLength: 100,
  maxReasonLength: 2000,
});

/** Which frozen SAM a task's adapters are trained against. */
export interface TaskBaseModel {
  /** A key of `BASE_MODEL_PRESETS` (`vit_b`, `casam-tiny`…). */
  preset: string;
  /** `sha256:<64 hex>` of the base model's weights. */
  fingerprint: string;
}

/** `POST /api/v1/tasks` (a site). */
export interface ProposeTaskRequest {
  /** Unique per proposing site. */
  name: string;
  /** e.g. `CT`, `MR`, `US`, `endoscopy`. */
  modality: string;
  /** e.g. `["liver"]`; at least one. */
  targetStructures: string[];
  baseModel: TaskBaseModel;
}

/** `POST /api/v1/tasks/:id/reject` and `…/retire` (an admin). */
export interface TaskDecisionRequest {
  reason: string;
}

/** `POST /api/v1/tasks/:id/contributors` (an admin). */
export interface AddTaskContributorRequest {
  siteId: string;
}

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
