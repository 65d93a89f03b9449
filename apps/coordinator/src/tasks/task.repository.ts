import { Injectable } from '@nestjs/common';
import type { Prisma, Task, TaskContributor, TaskStatus } from '@prisma/client';
import { Database } from '../database/database';
import { isForeignKeyViolation, isUniqueViolation } from '../database/prisma-errors';
import { ContributorSiteNotFoundError, TaskNameTakenError } from './task.errors';

export type TaskWithContributors = Task & { contributors: TaskContributor[] };

export interface NewTask {
  name: string;
  modality: string;
  targetStructures: string[];
  baseModelPreset: string;
  baseModelFingerprint: string;
  embeddingChannels: number;
  proposedBySiteId: string;
}

export interface TaskStatusChange {
  /** The change happens only if the task is in this state now (checked atomically). */
  from: TaskStatus;
  to: TaskStatus;
  reason?: string | null;
  decidedById: string;
  at: Date;
}

/** What a site may see: tasks it proposed, tasks it contributes to, and every approved task. */
export interface TaskListFilter {
  status?: TaskStatus;
  visibleToSiteId?: string;
}

const WITH_CONTRIBUTORS = { contributors: { orderBy: { createdAt: 'asc' } } } as const;

/** Tasks and their contributors. Transition rules live in the tasks service; this class only stores. */
@Injectable()
export class TaskRepository {
  constructor(private readonly db: Database) {}

  async create(task: NewTask): Promise<TaskWithContributors> {
    try {
      return await this.db.prisma.task.create({ data: task, include: WITH_CONTRIBUTORS });
    } catch (e) {
      if (isUniqueViolation(e)) throw new TaskNameTakenError(task.name);
      throw e;
    }
  }

  findById(id: string): Promise<TaskWithContributors | null> {
    return this.db.prisma.task.findUnique({ where: { id }, include: WITH_CONTRIBUTORS });
  }

  list(filter: TaskListFilter = {}): Promise<TaskWithContributors[]> {
    const where: Prisma.TaskWhereInput = {};
    if (filter.status) where.status = filter.status;
    if (filter.visibleToSiteId)
      where.OR = [
        { proposedBySiteId: filter.visibleToSiteId },
        { contributors: { some: { siteId: filter.visibleToSiteId } } },
        { status: 'approved' },
      ];
    return this.db.prisma.task.findMany({
      where,
      include: WITH_CONTRIBUTORS,
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
  }

  /** Whether the site proposed the task or was added as a contributor. */
  async isContributor(taskId: string, siteId: string): Promise<boolean> {
    const n = await this.db.prisma.task.count({
      where: { id: taskId, OR: [{ proposedBySiteId: siteId }, { contributors: { some: { siteId } } }] },
    });
    return n === 1;
  }

  /**
   * Compare-and-set on the status: the updated task, or null when it is not in `change.from` (someone else
   * decided first). `guard`, when given, runs first in the same transaction under a lock shared by every
   * approval, so two approvals cannot each miss the other (the one-base-model rule).
   */
  async changeStatus(
    id: string,
    change: TaskStatusChange,
    guard?: (approvedFingerprints: string[]) => void,
  ): Promise<TaskWithContributors | null> {
    return this.db.prisma.$transaction(async (tx) => {
      if (guard) {
        await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('casam:task-approval'))`);
        const rows = await tx.task.findMany({
          where: { status: 'approved', id: { not: id } },
          distinct: ['baseModelFingerprint'],
          select: { baseModelFingerprint: true },
        });
        guard(rows.map((r) => r.baseModelFingerprint));
      }
      const { count } = await tx.task.updateMany({
        where: { id, status: change.from },
        data: {
          status: change.to,
          statusReason: change.reason ?? null,
          decidedById: change.decidedById,
          decidedAt: change.at,
        },
      });
      return count === 1 ? tx.task.findUnique({ where: { id }, include: WITH_CONTRIBUTORS }) : null;
    });
  }

  /** Adds a contributor; false when it was one already. */
  async addContributor(taskId: string, siteId: string, addedById: string): Promise<boolean> {
    try {
      await this.db.prisma.taskContributor.create({ data: { taskId, siteId, addedById } });
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      if (isForeignKeyViolation(e)) throw new ContributorSiteNotFoundError(siteId);
      throw e;
    }
  }

  /** Removes a contributor; false when it was none. */
  async removeContributor(taskId: string, siteId: string): Promise<boolean> {
    const { count } = await this.db.prisma.taskContributor.deleteMany({ where: { taskId, siteId } });
    return count === 1;
  }

  siteExists(siteId: string): Promise<boolean> {
    return this.db.prisma.site.count({ where: { id: siteId } }).then((n) => n === 1);
  }
}
