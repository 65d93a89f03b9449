import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { Prisma } from '@prisma/client';
import { type AdapterCompatibility, type AdapterVersionSummary, adapterCompatibility } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { BlobStore } from '../blobs/blob-store';
import { Clock } from '../common/clock';
import { SiteRepository } from '../sites/site.repository';
import { DomainError } from '../common/domain-error';
import { CoordinatorEvents } from '../events/coordinator-events';
import { TasksService } from '../tasks/tasks.service';
import { AdapterNotPendingError, AdapterVersionNotFoundError, TaskNotApprovedError } from './adapter.errors';
import { type AdapterVersionWithTask, AdapterVersionRepository } from './adapter-version.repository';
import { toAdapterVersionSummary } from './adapter-view';

export interface AdapterFileDownload {
  sha256: string;
  size: number;
  filename: string;
  /** Null when the caller's `If-None-Match` already names this file (304). */
  stream: Readable | null;
}

/** Adapter versions: reading them and their files, and the admin's decision (which the bundle builder follows). */
@Injectable()
export class AdaptersService {
  constructor(
    private readonly versions: AdapterVersionRepository,
    private readonly tasks: TasksService,
    private readonly store: BlobStore,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
    private readonly sites: SiteRepository,
  ) {}

  async listForTask(taskId: string, viewer: Principal): Promise<AdapterVersionSummary[]> {
    await this.tasks.visibleTask(taskId, viewer);
    const versions = await this.versions.listForTask(taskId);
    const compat = viewer.kind === 'admin' ? await this.compatibility() : null;
    return versions.map((v) => withCompatibility(toAdapterVersionSummary(v), compat));
  }

  async get(id: string, viewer: Principal): Promise<AdapterVersionSummary> {
    const v = await this.visibleVersion(id, viewer);
    const compat = viewer.kind === 'admin' ? await this.compatibility() : null;
    return withCompatibility(toAdapterVersionSummary(v), compat);
  }

  /**
   * Which approved sites can read which adapter format, from the agent versions they last reported (admins only:
   * it names other sites). One query, for every format.
   */
  private async compatibility(): Promise<(formatVersion: number) => AdapterCompatibility> {
    const sites = await this.sites.list({ status: 'approved' });
    return (formatVersion) => adapterCompatibility(formatVersion, sites);
  }

  /**
   * The adapter file. Admins and viewers may read every one; a site reads the files of approved tasks (the
   * approved versions, which the router bundle ships anyway, and every version of a task it contributes to).
   */
  async file(id: string, viewer: Principal, ifNoneMatch: string | undefined): Promise<AdapterFileDownload> {
    const v = await this.visibleVersion(id, viewer);
    if (viewer.kind === 'site') {
      const task = await this.tasks.visibleTask(v.taskId, viewer);
      const contributes =
        task.proposedBySiteId === viewer.siteId || task.contributors.some((c) => c.siteId === viewer.siteId);
      const allowed =
        v.siteId === viewer.siteId ||
        (task.status === 'approved' && (v.status === 'approved' || contributes));
      if (!allowed) throw new AdapterVersionNotFoundError(id);
    }
    const download = {
      sha256: v.adapterBlobHash,
      size: v.sizeBytes,
      filename: `${safeName(v.task.name)}-v${v.version}.safetensors`,
    };
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, v.adapterBlobHash))
      return { ...download, stream: null };
    return { ...download, stream: await this.store.open(v.adapterBlobHash) };
  }

  approve(id: string, by: Actor): Promise<AdapterVersionSummary> {
    return this.decide(id, 'approved', null, by);
  }

  reject(id: string, reason: string, by: Actor): Promise<AdapterVersionSummary> {
    return this.decide(id, 'rejected', reason, by);
  }

  private async decide(
    id: string,
    to: 'approved' | 'rejected',
    reason: string | null,
    by: Actor,
  ): Promise<AdapterVersionSummary> {
    const base = {
      actorType: by.type,
      actorId: by.id,
      action: `adapter.${to}`,
      targetType: 'adapter_version',
      targetId: id,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
    };
    const details: Prisma.InputJsonObject = reason === null ? {} : { reason };
    let version: AdapterVersionWithTask | null = null;
    let compat: AdapterCompatibility | null = null;
    try {
      version = await this.versions.findById(id);
      if (!version) throw new AdapterVersionNotFoundError(id);
      const verb = to === 'approved' ? 'approved' : 'rejected';
      if (version.status !== 'pending') throw new AdapterNotPendingError(id, version.status, verb);
      if (to === 'approved' && version.task.status !== 'approved')
        throw new TaskNotApprovedError(version.taskId, version.task.status);
      // The warning the admin saw beside Approve (sites too old to read this format): approving goes ahead, and
      // the audit entry records the warning.
      compat = (await this.compatibility())(version.formatVersion);
      const changed = await this.versions.changeStatus(id, {
        from: 'pending',
        to,
        reason,
        decidedById: by.id!,
        at: this.clock.now(),
      });
      if (!changed) {
        const now = await this.versions.findById(id);
        throw new AdapterNotPendingError(id, now?.status ?? 'gone', verb);
      }
      await this.audit.record({
        ...base,
        siteId: changed.siteId,
        details: {
          ...details,
          taskId: changed.taskId,
          version: changed.version,
          sha256: changed.adapterBlobHash,
          ...(to === 'approved' && compat.sitesUnableToRead.length
            ? {
                compatibilityWarning: {
                  formatVersion: compat.formatVersion,
                  firstAgentVersion: compat.firstAgentVersion,
                  sitesUnableToRead: compat.sitesUnableToRead.map((x) => ({ ...x })),
                },
              }
            : {}),
        },
        createdAt: this.clock.now(),
      });
      // After the audit record: approving returns once the bundle builder has reacted.
      await this.events.emit({
        type: to === 'approved' ? 'adapter.approved' : 'adapter.rejected',
        adapterVersionId: id,
        taskId: changed.taskId,
      });
      return { ...toAdapterVersionSummary(changed), compatibility: compat };
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          siteId: version?.siteId ?? null,
          outcome: 'denied',
          details: { ...details, error: e.code, message: e.message },
          createdAt: this.clock.now(),
        });
      throw e;
    }
  }

  private async visibleVersion(id: string, viewer: Principal): Promise<AdapterVersionWithTask> {
    const v = await this.versions.findById(id);
    if (!v) throw new AdapterVersionNotFoundError(id);
    if (viewer.kind === 'site') {
      try {
        await this.tasks.visibleTask(v.taskId, viewer);
      } catch (e) {
        if (e instanceof DomainError && e.code === 'task_not_found')
          throw new AdapterVersionNotFoundError(id);
        throw e;
      }
    }
    return v;
  }
}

function withCompatibility(
  v: AdapterVersionSummary,
  compat: ((formatVersion: number) => AdapterCompatibility) | null,
): AdapterVersionSummary {
  return compat ? { ...v, compatibility: compat(v.formatVersion) } : v;
}

/** `If-None-Match` lists the ETag `"<sha256>"` (or `*`). */
function etagMatches(header: string, sha256: string): boolean {
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === `"${sha256}"`);
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'adapter';
}
