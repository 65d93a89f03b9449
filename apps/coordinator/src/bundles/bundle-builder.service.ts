import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import {
  BUNDLE_FORMAT,
  BUNDLE_JWS_TYPE,
  BUNDLE_MEDIA_TYPE,
  type BundleBaseModel,
  type BundleManifest,
  type BundleTask,
  bundleAdapterPath,
  PROTOCOL_VERSION,
} from '@casam/protocol';
import { storedDecoderLoraSummary } from '../adapters/adapter-view';
import { AuditService } from '../audit/audit.service';
import { BlobInUseError, BlobRepository } from '../blobs/blob.repository';
import { BlobStore } from '../blobs/blob-store';
import { Clock } from '../common/clock';
import { CoordinatorEvents } from '../events/coordinator-events';
import { MetricsService } from '../metrics/metrics.service';
import { SigningKeysService } from '../signing-keys/signing-keys.service';
import { bundleArchive } from './bundle-archive';
import { type BundleCandidate, type BundleRecord, BundleRepository } from './bundle.repository';

/** What made the builder look (for logs and the audit trail). */
export interface BuildTrigger {
  reason: 'startup' | 'adapter.approved' | 'task.status_changed' | 'manual';
  /** The admin whose decision caused it, or null for the coordinator itself. */
  adminId: string | null;
}

export interface ReconcileResult {
  /** The bundle this run published, or null when the latest bundle already had the desired content. */
  published: BundleRecord | null;
  /** The newest bundle after the run (null when none was ever needed). */
  latest: BundleRecord | null;
}

/** The content a bundle should have now. */
export interface DesiredContent {
  baseModel: BundleBaseModel | null;
  tasks: BundleTask[];
}

/** The desired content can't be packed (a referenced adapter file is missing or damaged). */
export class BundleBuildError extends Error {
  override name = 'BundleBuildError';
}

/** Builders on other replicas may keep winning the version race; give up after this many tries. */
const MAX_PUBLISH_ATTEMPTS = 5;

/**
 * Keeps the published router bundle equal to the desired content: for every approved task, its newest approved
 * adapter version. Runs at startup and whenever an adapter is approved or a task changes status; publishes the
 * next version only when the content differs from the latest bundle. One run at a time in this process (calls
 * during a run share the next run); across replicas the unique bundle version is the compare-and-set, and the
 * loser re-checks (usually finding the winner already published what it wanted).
 */
@Injectable()
export class BundleBuilderService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('BundleBuilder');
  private running: Promise<ReconcileResult> | null = null;
  private next: Promise<ReconcileResult> | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly repo: BundleRepository,
    private readonly blobStore: BlobStore,
    private readonly blobs: BlobRepository,
    private readonly signingKeys: SigningKeysService,
    private readonly events: CoordinatorEvents,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe.push(
      this.events.on('adapter.approved', async (e) => {
        await this.reconcile({
          reason: 'adapter.approved',
          adminId: await this.repo.adapterDecidedBy(e.adapterVersionId),
        });
      }),
      this.events.on('task.status_changed', async (e) => {
        await this.reconcile({
          reason: 'task.status_changed',
          adminId: await this.repo.taskDecidedBy(e.taskId),
        });
      }),
    );
    try {
      await this.reconcile({ reason: 'startup', adminId: null });
    } catch (e) {
      // A missing adapter file must not keep the coordinator down; the next trigger tries again.
      this.logger.error(`startup bundle build failed: ${(e as Error).stack ?? String(e)}`);
    }
  }

  onModuleDestroy(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Publishes the next bundle if the desired content differs from the latest bundle's. */
  reconcile(trigger: BuildTrigger): Promise<ReconcileResult> {
    if (!this.running) {
      const run = this.run(trigger).finally(() => {
        if (this.running === run) this.running = null;
      });
      this.running = run;
      return run;
    }
    // A run is under way and may have read the database before the caller's change: queue one more run,
    // shared by every caller arriving meanwhile.
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.reconcile(trigger);
      });
    return this.next;
  }

  /** What the next bundle would contain. */
  async desired(): Promise<DesiredContent> {
    const candidates = (await this.repo.candidates()).filter((c) => {
      if (typeof tauOf(c) === 'number') return true;
      this.logger.error(
        `adapter version ${c.adapterVersionId} of task ${c.taskId} has no numeric τ; left out`,
      );
      return false;
    });
    if (candidates.length === 0) return { baseModel: null, tasks: [] };
    // One base model per bundle. Task approval refuses a second one; should old data disagree anyway, the
    // base model of the earliest approved task wins and the others are left out, loudly.
    const first = [...candidates].sort(
      (a, b) =>
        (a.decidedAt?.getTime() ?? 0) - (b.decidedAt?.getTime() ?? 0) || a.taskId.localeCompare(b.taskId),
    )[0];
    const baseModel: BundleBaseModel = {
      fingerprint: first.baseModelFingerprint,
      preset: first.baseModelPreset,
      channels: first.embeddingChannels,
    };
    const tasks: BundleTask[] = [];
    for (const c of candidates) {
      if (c.baseModelFingerprint !== baseModel.fingerprint || c.embeddingChannels !== baseModel.channels) {
        this.logger.warn(
          `task ${c.taskId} is for base model ${c.baseModelFingerprint}, not the bundle's ${baseModel.fingerprint}; left out`,
        );
        continue;
      }
      tasks.push({
        taskId: c.taskId,
        name: c.name,
        modality: c.modality,
        targetStructures: [...c.targetStructures],
        adapterVersion: c.adapterVersion,
        adapterVersionId: c.adapterVersionId,
        tau: tauOf(c) as number,
        tauStats: numericEntries(c.tauStats),
        sha256: c.adapterBlobHash,
        size: c.sizeBytes,
        path: bundleAdapterPath(c.taskId),
        ...adapterFormatEntries(c),
      });
    }
    tasks.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
    return { baseModel, tasks };
  }

  private async run(trigger: BuildTrigger): Promise<ReconcileResult> {
    for (let attempt = 1; attempt <= MAX_PUBLISH_ATTEMPTS; attempt++) {
      const desired = await this.desired();
      const latest = await this.repo.latest();
      const upToDate = latest
        ? sameContent(latest.manifest as unknown as BundleManifest, desired)
        : desired.tasks.length === 0; // nothing approved yet and nothing published: nothing to retract
      if (upToDate) return { published: null, latest };
      const published = await this.publish((latest?.version ?? 0) + 1, desired, trigger);
      if (published) return { published, latest: published };
      this.logger.log(
        `bundle version ${(latest?.version ?? 0) + 1} was published by another builder; re-checking`,
      );
    }
    throw new BundleBuildError(
      `gave up publishing after ${MAX_PUBLISH_ATTEMPTS} attempts: other builders kept publishing first`,
    );
  }

  /** Builds, stores and records version `version`; null when another builder took that version first. */
  private async publish(
    version: number,
    desired: DesiredContent,
    trigger: BuildTrigger,
  ): Promise<BundleRecord | null> {
    const t0 = performance.now();
    const createdAt = this.clock.now();
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT,
      bundleVersion: version,
      protocolVersion: PROTOCOL_VERSION,
      baseModel: desired.baseModel,
      createdAt: createdAt.toISOString(),
      tasks: desired.tasks,
    };
    for (const t of desired.tasks) {
      const stat = await this.blobStore.stat(t.sha256);
      if (!stat)
        throw new BundleBuildError(
          `adapter file ${t.sha256} of task ${t.taskId} is missing from the blob store`,
        );
      if (stat.size !== t.size)
        throw new BundleBuildError(
          `adapter file ${t.sha256} of task ${t.taskId} has ${stat.size} bytes, the registry says ${t.size}`,
        );
    }
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
    const signed = await this.signingKeys.sign(manifestBytes, BUNDLE_JWS_TYPE);
    const put = await this.blobStore.put(
      bundleArchive({
        manifest: manifestBytes,
        jws: signed.jws,
        mtime: Math.floor(createdAt.getTime() / 1000),
        adapters: desired.tasks.map((t) => ({
          path: t.path,
          size: t.size,
          open: () => this.blobStore.open(t.sha256),
        })),
      }),
    );
    await this.blobs.record({
      hash: put.hash,
      size: put.size,
      store: this.blobStore.driver,
      mediaType: BUNDLE_MEDIA_TYPE,
    });
    const row = await this.repo.insert({
      version,
      protocolVersion: PROTOCOL_VERSION,
      baseModelFingerprint: desired.baseModel?.fingerprint ?? '',
      manifest,
      jws: signed.jws,
      contentHash: put.hash,
      signingKeyId: signed.keyId,
      builtById: trigger.adminId,
      createdAt,
    });
    if (!row) {
      await this.discard(put.hash);
      return null;
    }
    const ms = Math.round(performance.now() - t0);
    this.metrics.bundleBuildSeconds.observe(ms / 1000);
    this.logger.log(
      `published bundle ${version} (${desired.tasks.length} task(s), ${put.size} bytes, sha256 ${put.hash}) in ${ms} ms`,
    );
    await this.audit.record({
      actorType: trigger.adminId ? 'admin' : 'system',
      actorId: trigger.adminId,
      action: 'bundle.published',
      targetType: 'router_bundle',
      targetId: String(version),
      details: {
        contentHash: put.hash,
        size: put.size,
        taskCount: desired.tasks.length,
        kid: signed.kid,
        reason: trigger.reason,
        buildMs: ms,
      },
    });
    await this.events.emit({
      type: 'bundle.published',
      version,
      contentHash: put.hash,
      createdAt: manifest.createdAt,
    });
    return row;
  }

  /** Removes the archive of a version another builder won, unless something references the same bytes. */
  private async discard(hash: string): Promise<void> {
    try {
      if (await this.blobs.delete(hash)) await this.blobStore.delete(hash);
    } catch (e) {
      if (!(e instanceof BlobInUseError)) throw e;
    }
  }
}

function tauOf(c: BundleCandidate): number | undefined {
  const tau = (c.tauStats as { tau?: unknown } | null)?.tau;
  return typeof tau === 'number' && Number.isFinite(tau) ? tau : undefined;
}

/**
 * A version 2 adapter's entry names its format and delta (site agents check them against the file). A version 1
 * entry stays as it was before decoder deltas: the published bundles' content does not change on an upgrade.
 */
function adapterFormatEntries(c: BundleCandidate): Pick<BundleTask, 'adapterFormatVersion' | 'decoderLora'> {
  if (c.formatVersion === 1) return {};
  const decoderLora = storedDecoderLoraSummary(c.decoderLora);
  return { adapterFormatVersion: c.formatVersion, ...(decoderLora && { decoderLora }) };
}

function numericEntries(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}

/** Whether a published manifest already has the desired content (key order ignored: jsonb reorders keys). */
export function sameContent(manifest: BundleManifest, desired: DesiredContent): boolean {
  return (
    canonicalJson({ baseModel: manifest.baseModel ?? null, tasks: manifest.tasks ?? [] }) ===
    canonicalJson({ baseModel: desired.baseModel, tasks: desired.tasks })
  );
}

/** JSON with object keys sorted, for order-insensitive comparison. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}
