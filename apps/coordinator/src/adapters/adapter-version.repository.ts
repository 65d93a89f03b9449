import { Injectable } from '@nestjs/common';
import type { AdapterVersion, AdapterVersionStatus, SiteKey, Task } from '@prisma/client';
import { Database } from '../database/database';

export type AdapterVersionWithTask = AdapterVersion & {
  task: Pick<Task, 'id' | 'status' | 'baseModelPreset' | 'embeddingChannels' | 'name' | 'proposedBySiteId'>;
  signedByKey: Pick<SiteKey, 'fingerprint'> | null;
};

const WITH_TASK = {
  task: {
    select: {
      id: true,
      status: true,
      baseModelPreset: true,
      embeddingChannels: true,
      name: true,
      proposedBySiteId: true,
    },
  },
  signedByKey: { select: { fingerprint: true } },
} as const;

export interface AdapterStatusChange {
  from: AdapterVersionStatus;
  to: AdapterVersionStatus;
  reason?: string | null;
  decidedById: string;
  at: Date;
}

/** Adapter versions (their files are blobs). Rules live in the adapters service; this class only stores. */
@Injectable()
export class AdapterVersionRepository {
  constructor(private readonly db: Database) {}

  findById(id: string): Promise<AdapterVersionWithTask | null> {
    return this.db.prisma.adapterVersion.findUnique({ where: { id }, include: WITH_TASK });
  }

  listForTask(taskId: string): Promise<AdapterVersionWithTask[]> {
    return this.db.prisma.adapterVersion.findMany({
      where: { taskId },
      include: WITH_TASK,
      orderBy: { version: 'asc' },
    });
  }

  /** Compare-and-set on the status: the updated version, or null when it is not in `change.from`. */
  async changeStatus(id: string, change: AdapterStatusChange): Promise<AdapterVersionWithTask | null> {
    const { count } = await this.db.prisma.adapterVersion.updateMany({
      where: { id, status: change.from },
      data: {
        status: change.to,
        statusReason: change.reason ?? null,
        decidedById: change.decidedById,
        decidedAt: change.at,
      },
    });
    return count === 1 ? this.findById(id) : null;
  }
}
