/**
 * The coordinator's real-time channel (socket.io): path {@link REALTIME_PATH}, namespace
 * {@link REALTIME_NAMESPACE}. Clients connect with `auth: RealtimeAuth`; a refused connection gets a
 * `connect_error` whose `data` is a {@link RealtimeError}. Depends on nothing.
 */

export const REALTIME_PATH = '/socket.io';
export const REALTIME_NAMESPACE = '/v1';

/** What a client sends as socket.io `auth` when connecting. */
export interface RealtimeAuth {
  /** An access token (admin login or site token exchange). */
  token: string;
  /** The protocol version the client speaks (PROTOCOL_VERSION). */
  protocolVersion: string;
}

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
export interface SiteStatusReport {
  /** The agent's version, MAJOR.MINOR.PATCH with an optional -prerelease (at most 50 characters). */
  agentVersion: string;
  /** The router bundle installed and in use, or null when none is. */
  bundleVersion: number | null;
}

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

/** What a site reports while it trains a task (no pixels: numbers about the run only). */
export interface TrainingProgress {
  taskId: string;
  stage: TrainingStage;
  /** 0..epochs */
  epoch: number;
  epochs: number;
  loss?: number;
  /** Aggregate numbers (e.g. `{iou: 0.81}`); names are identifiers, values finite numbers. */
  metrics?: Record<string, number>;
}

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
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return ['status must be an object'];
  const o = v as Record<string, unknown>;
  const p: string[] = [];
  for (const k of Object.keys(o))
    if (k !== 'agentVersion' && k !== 'bundleVersion')
      p.push(`unknown field ${JSON.stringify(k.slice(0, 64))}`);
  const a = o['agentVersion'];
  if (typeof a !== 'string' || a.length > 50 || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(a))
    p.push('agentVersion must be a version MAJOR.MINOR.PATCH[-prerelease] of at most 50 characters');
  const b = o['bundleVersion'];
  if (!(b === null || (Number.isInteger(b) && (b as number) >= 1 && (b as number) <= 2_147_483_647)))
    p.push('bundleVersion must be a bundle version (a positive integer) or null');
  return p;
}

/** Problems of a training progress report (empty when valid). Unknown fields are problems too. */
export function trainingProgressProblems(v: unknown): string[] {
  const p: string[] = [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return ['progress must be an object'];
  const o = v as Record<string, unknown>;
  const known = ['taskId', 'stage', 'epoch', 'epochs', 'loss', 'metrics'];
  for (const k of Object.keys(o))
    if (!known.includes(k)) p.push(`unknown field ${JSON.stringify(k.slice(0, 64))}`);
  if (
    typeof o['taskId'] !== 'string' ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(o['taskId'])
  )
    p.push('taskId must be a task id (UUID)');
  if (!(TRAINING_STAGES as readonly unknown[]).includes(o['stage']))
    p.push(`stage must be one of ${TRAINING_STAGES.join(', ')}`);
  const { maxEpochs, maxMetrics, maxMetricNameLength } = TRAINING_PROGRESS_LIMITS;
  const isCount = (x: unknown): x is number =>
    Number.isInteger(x) && (x as number) >= 0 && (x as number) <= maxEpochs;
  if (!isCount(o['epochs'])) p.push(`epochs must be an integer in 0..${maxEpochs}`);
  if (!isCount(o['epoch'])) p.push(`epoch must be an integer in 0..${maxEpochs}`);
  else if (isCount(o['epochs']) && o['epoch'] > o['epochs']) p.push('epoch must not exceed epochs');
  if ('loss' in o && !(typeof o['loss'] === 'number' && Number.isFinite(o['loss'])))
    p.push('loss must be a finite number');
  if ('metrics' in o) {
    const m = o['metrics'];
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      p.push('metrics must be an object of numbers');
    else {
      const entries = Object.entries(m as Record<string, unknown>);
      if (entries.length > maxMetrics)
        p.push(`metrics has ${entries.length} entries, over the limit of ${maxMetrics}`);
      for (const [k, x] of entries.slice(0, maxMetrics)) {
        if (k.length > maxMetricNameLength || !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(k))
          p.push(
            `metrics name ${JSON.stringify(k.slice(0, 64))} must be an identifier of at most ${maxMetricNameLength} characters`,
          );
        else if (!(typeof x === 'number' && Number.isFinite(x)))
          p.push(`metrics.${k} must be a finite number`);
      }
    }
  }
  return p;
}
