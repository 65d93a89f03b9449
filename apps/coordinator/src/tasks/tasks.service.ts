import { Inject, Injectable } from '@nestjs/common';
import type { Prisma, TaskStatus } from '@prisma/client';
import { BASE_MODEL_PRESETS, findBaseModelPreset, type TaskSummary } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { COORDINATOR_CONFIG } from '../config/config.module';
import type { CoordinatorConfig } from '../config/coordinator-config';
import { CoordinatorEvents } from '../events/coordinator-events';
import {
  BaseModelMismatchError,
  ContributorIsProposerError,
  ContributorSiteNotFoundError,
  TaskClosedError,
  TaskContributorNotFoundError,
  TaskNotFoundError,
  TaskStatusConflictError,
  UnknownBaseModelPresetError,
} from './task.errors';
import { type TaskWithContributors, TaskRepository } from './task.repository';
import { toTaskSummary } from './task-view';

export interface TaskProposal {
  name: string;
  modality: string;
  targetStructures: string[];
  baseModel: { preset: string; fingerprint: string };
}

/**
 * The task life cycle: a site proposes; an admin approves (proposed → approved), rejects (proposed → rejected)
 * or retires (approved → retired), each a compare-and-set so two admins cannot both decide. The federation has
 * one base model, fixed by COORDINATOR_BASE_MODEL_FINGERPRINT or else by the tasks already approved.
 */
@Injectable()
export class TasksService {
  constructor(
    private readonly tasks: TaskRepository,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
  ) {}

  async propose(input: TaskProposal, by: Actor & { type: 'site'; id: string }): Promise<TaskSummary> {
    return this.audited(
      by,
      'task.proposed',
      null,
      { name: input.name, baseModel: input.baseModel },
      async () => {
        const preset = findBaseModelPreset(input.baseModel.preset);
        if (!preset)
          throw new UnknownBaseModelPresetError(input.baseModel.preset, Object.keys(BASE_MODEL_PRESETS));
        const fixed = this.config.baseModelFingerprint;
        if (fixed !== undefined && input.baseModel.fingerprint !== fixed)
          throw new BaseModelMismatchError(
            fixed,
            input.baseModel.fingerprint,
            'set by COORDINATOR_BASE_MODEL_FINGERPRINT',
          );
        const task = await this.tasks.create({
          name: input.name.trim(),
          modality: input.modality.trim(),
          targetStructures: input.targetStructures.map((s) => s.trim()),
          baseModelPreset: preset.name,
          baseModelFingerprint: input.baseModel.fingerprint,
          embeddingChannels: preset.embeddingChannels,
          proposedBySiteId: by.id,
        });
        return task;
      },
    );
  }

  async list(viewer: Principal, filter: { status?: TaskStatus } = {}): Promise<TaskSummary[]> {
    const rows = await this.tasks.list({
      status: filter.status,
      visibleToSiteId: viewer.kind === 'site' ? viewer.siteId : undefined,
    });
    return rows.map(toTaskSummary);
  }

  async get(id: string, viewer: Principal): Promise<TaskSummary> {
    return toTaskSummary(await this.visibleTask(id, viewer));
  }

  /** The task if `viewer` may see it; a site sees its own, those it contributes to and approved ones. */
  async visibleTask(id: string, viewer: Principal): Promise<TaskWithContributors> {
    const task = await this.tasks.findById(id);
    if (!task) throw new TaskNotFoundError(id);
    if (viewer.kind === 'site' && !isVisibleTo(task, viewer.siteId)) throw new TaskNotFoundError(id);
    return task;
  }

  approve(id: string, by: Actor): Promise<TaskSummary> {
    return this.transition(id, 'proposed', 'approved', null, by, (task) => (approved) => {
      const fixed = this.config.baseModelFingerprint;
      if (fixed !== undefined && task.baseModelFingerprint !== fixed)
        throw new BaseModelMismatchError(
          fixed,
          task.baseModelFingerprint,
          'set by COORDINATOR_BASE_MODEL_FINGERPRINT',
        );
      const other = approved.find((fp) => fp !== task.baseModelFingerprint);
      if (other !== undefined)
        throw new BaseModelMismatchError(
          other,
          task.baseModelFingerprint,
          'the base model of the approved tasks',
        );
    });
  }

  reject(id: string, reason: string, by: Actor): Promise<TaskSummary> {
    return this.transition(id, 'proposed', 'rejected', reason, by);
  }

  retire(id: string, reason: string, by: Actor): Promise<TaskSummary> {
    return this.transition(id, 'approved', 'retired', reason, by);
  }

  async addContributor(id: string, siteId: string, by: Actor): Promise<TaskSummary> {
    return this.audited(by, 'task.contributor_added', id, { contributorSiteId: siteId }, async () => {
      const task = await this.tasks.findById(id);
      if (!task) throw new TaskNotFoundError(id);
      if (task.status === 'rejected' || task.status === 'retired') throw new TaskClosedError(id, task.status);
      if (task.proposedBySiteId === siteId) throw new ContributorIsProposerError(siteId);
      if (!(await this.tasks.siteExists(siteId))) throw new ContributorSiteNotFoundError(siteId);
      await this.tasks.addContributor(id, siteId, by.id!);
      return (await this.tasks.findById(id))!;
    });
  }

  async removeContributor(id: string, siteId: string, by: Actor): Promise<TaskSummary> {
    return this.audited(by, 'task.contributor_removed', id, { contributorSiteId: siteId }, async () => {
      const task = await this.tasks.findById(id);
      if (!task) throw new TaskNotFoundError(id);
      if (!(await this.tasks.removeContributor(id, siteId)))
        throw new TaskContributorNotFoundError(id, siteId);
      return (await this.tasks.findById(id))!;
    });
  }

  private async transition(
    id: string,
    from: TaskStatus,
    to: TaskStatus,
    reason: string | null,
    by: Actor,
    makeGuard?: (task: TaskWithContributors) => (approvedFingerprints: string[]) => void,
  ): Promise<TaskSummary> {
    const verb = to === 'approved' ? 'approved' : to === 'rejected' ? 'rejected' : 'retired';
    return this.audited(by, `task.${verb}`, id, reason === null ? {} : { reason }, async () => {
      const task = await this.tasks.findById(id);
      if (!task) throw new TaskNotFoundError(id);
      if (task.status !== from) throw new TaskStatusConflictError(id, task.status, [from], verb);
      const changed = await this.tasks.changeStatus(
        id,
        { from, to, reason, decidedById: by.id!, at: this.clock.now() },
        makeGuard?.(task),
      );
      if (!changed) {
        const now = await this.tasks.findById(id);
        throw new TaskStatusConflictError(id, now?.status ?? 'gone', [from], verb);
      }
      await this.events.emit({ type: 'task.status_changed', taskId: id, status: to, previous: from });
      return changed;
    });
  }

  /** Runs `fn` and records the outcome in the audit log: success with the task, or denied with the error code. */
  private async audited(
    by: Actor,
    action: string,
    taskId: string | null,
    details: Prisma.InputJsonObject,
    fn: () => Promise<TaskWithContributors>,
  ): Promise<TaskSummary> {
    const base = {
      actorType: by.type,
      actorId: by.id,
      action,
      targetType: 'task',
      address: by.meta.address,
      correlationId: by.meta.correlationId,
    };
    try {
      const task = await fn();
      await this.audit.record({
        ...base,
        targetId: task.id,
        siteId: task.proposedBySiteId,
        details: { ...details, status: task.status },
        createdAt: this.clock.now(),
      });
      return toTaskSummary(task);
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          targetId: taskId,
          siteId: by.type === 'site' ? by.id : null,
          outcome: 'denied',
          details: { ...details, error: e.code, message: e.message },
          createdAt: this.clock.now(),
        });
      throw e;
    }
  }
}

export function isVisibleTo(task: TaskWithContributors, siteId: string): boolean {
  return (
    task.status === 'approved' ||
    task.proposedBySiteId === siteId ||
    task.contributors.some((c) => c.siteId === siteId)
  );
}
