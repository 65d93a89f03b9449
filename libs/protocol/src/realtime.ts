/**
 * The coordinator's real-time channel (socket.io): path {@link REALTIME_PATH}, namespace
 * {@link REALTIME_NAMESPACE}. Clients connect with `auth: RealtimeAuth`; a refused connection gets a
 * `connect_error` whose `data` is a {@link RealtimeError}. Depends on zod only.
 */
import { z } from 'zod';
import { metricName, positiveInt32, releaseVersion, uuid } from './wire/wire-fields';
import { wireProblems } from './wire/wire-problems';

export const REALTIME_PATH = '/socket.io';
export const REALTIME_NAMESPACE = '/v1';

/** What a client sends as socket.io `auth` when connecting. */
export const RealtimeAuthSchema = z.strictObject({
  /** An access token (admin login or site token exchange). */
  token: z
    .string()
    .max(4000)
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { error: 'must be an access token' }),
  /** The protocol version the client speaks (PROTOCOL_VERSION). */
  protocolVersion: z.string().regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}$/, { error: 'must be MAJOR.MINOR.PATCH' }),
});
export type RealtimeAuth = z.infer<typeof RealtimeAuthSchema>;

/** Why a connection was refused (`connect_error`'s `data`) or a session ended (`session.ended`). */
export interface RealtimeError {
  code: string;
  message: string;
}

/** A new router bundle is out: fetch it (`GET /api/v1/bundles/:version/archive`). Sent to everyone. */
export interface BundlePublishedEvent {
  version: number;
  contentHash: string;
  createdAt: string;
  /** ISO 8601 with ms: when the coordinator sent this announcement (after the bundle was built and stored). */
  announcedAt: string;
}

/** A task moved (approved, rejected, retired…). Sent to admins and the site that proposed it. */
export interface TaskStatusChangedEvent {
  taskId: string;
  status: string;
  previous: string;
  at: string;
}

/**
 * A site's first socket connected (`online`), its last one closed, or it reported its state (`site.status`).
 * Sent to admins. `agentVersion` and `bundleVersion` are present once the site has reported them.
 */
export interface SitePresenceEvent {
  siteId: string;
  online: boolean;
  at: string;
  agentVersion?: string | null;
  /** The router bundle the site runs (null: none installed yet). */
  bundleVersion?: number | null;
}

/** What a site reports about itself (`site.status`): on connect and after every bundle pull. */
export const SiteStatusReportSchema = z.strictObject({
  /** The agent's version, MAJOR.MINOR.PATCH with an optional -prerelease (at most 50 characters). */
  agentVersion: releaseVersion,
  /** The router bundle installed and in use, or null when none is. */
  bundleVersion: positiveInt32.nullable(),
});
export type SiteStatusReport = z.infer<typeof SiteStatusReportSchema>;

/** An admin asked this site to rotate its key (`POST /api/v1/sites/me/keys`). Sent to the site. */
export interface KeyRotationRequestedEvent {
  requestedAt: string;
}

export const TRAINING_STAGES = [
  'queued',
  'embedding',
  'training_align',
  'training_vae',
  'calibrating',
  'evaluating',
  'uploading',
  'done',
  'failed',
] as const;
export type TrainingStage = (typeof TRAINING_STAGES)[number];

/** Limits of a {@link TrainingProgress} report. */
export const TRAINING_PROGRESS_LIMITS = Object.freeze({
  maxEpochs: 1_000_000,
  maxMetrics: 32,
  maxMetricNameLength: 64,
});

const EPOCH_WORDS = `must be an integer in 0..${TRAINING_PROGRESS_LIMITS.maxEpochs}`;
const epochCount = z
  .int({ error: EPOCH_WORDS })
  .min(0, { error: EPOCH_WORDS })
  .max(TRAINING_PROGRESS_LIMITS.maxEpochs, { error: EPOCH_WORDS });

/** What a site reports while it trains a task (no pixels: numbers about the run only). */
export const TrainingProgressSchema = z
  .strictObject({
    taskId: uuid,
    stage: z.enum(TRAINING_STAGES, { error: `must be one of ${TRAINING_STAGES.join(', ')}` }),
    /** 0..epochs */
    epoch: epochCount,
    epochs: epochCount,
    loss: z.number().optional(),
    /** Aggregate numbers (e.g. `{iou: 0.81}`); names are identifiers, values finite numbers. */
    metrics: z
      .record(metricName, z.number())
      .check((ctx) => {
        const n = Object.keys(ctx.value).length;
        if (n > TRAINING_PROGRESS_LIMITS.maxMetrics)
          ctx.issues.push({
            code: 'custom',
            message: `has ${n} entries, over the limit of ${TRAINING_PROGRESS_LIMITS.maxMetrics}`,
            input: ctx.value,
          });
      })
      .meta({ maxProperties: TRAINING_PROGRESS_LIMITS.maxMetrics })
      .optional(),
  })
  .refine((p) => p.epoch <= p.epochs, {
    message: 'must not exceed epochs',
    path: ['epoch'],
    // Also beside other problems (an unknown field), so one answer lists them all.
    when: ({ value }) => {
      const v = value as { epoch?: unknown; epochs?: unknown } | null;
      return epochCount.safeParse(v?.epoch).success && epochCount.safeParse(v?.epochs).success;
    },
  });
export type TrainingProgress = z.infer<typeof TrainingProgressSchema>;

/** A site's progress report as admins receive it. */
export interface TrainingProgressEvent extends TrainingProgress {
  siteId: string;
  at: string;
}

/** Answer to every client event that takes an acknowledgement. */
export type RealtimeAck = { ok: true } | { ok: false; error: RealtimeError };

export interface ServerToClientEvents {
  'bundle.published': (event: BundlePublishedEvent) => void;
  'task.status_changed': (event: TaskStatusChangedEvent) => void;
  'site.presence': (event: SitePresenceEvent) => void;
  'training.progress': (event: TrainingProgressEvent) => void;
  'site.key_rotation_requested': (event: KeyRotationRequestedEvent) => void;
  /** Sent just before the server disconnects a socket whose credentials stopped working. */
  'session.ended': (event: RealtimeError) => void;
}

export interface ClientToServerEvents {
  /** Sites only. Answered with an ack; bad reports get `{ok: false, error}` and are dropped. */
  'training.progress': (progress: TrainingProgress, ack: (result: RealtimeAck) => void) => void;
  /** Sites only: agent version and installed bundle. Answered with an ack like `training.progress`. */
  'site.status': (report: SiteStatusReport, ack: (result: RealtimeAck) => void) => void;
}

/** Problems of a site status report (empty when valid). Unknown fields are problems too. */
export function siteStatusReportProblems(v: unknown): string[] {
  return wireProblems(SiteStatusReportSchema, v, 'status');
}

/** Problems of a training progress report (empty when valid). Unknown fields are problems too. */
export function trainingProgressProblems(v: unknown): string[] {
  return wireProblems(TrainingProgressSchema, v, 'progress');
}
