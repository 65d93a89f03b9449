import { Injectable } from '@nestjs/common';
import { Database } from '../database/database';

/** The few reads the real-time gateway needs. */
@Injectable()
export class RealtimeRepository {
  constructor(private readonly db: Database) {}

  /** The site that proposed a task, or null when there is no such task. */
  async taskProposer(taskId: string): Promise<string | null> {
    const t = await this.db.prisma.task.findUnique({
      where: { id: taskId },
      select: { proposedBySiteId: true },
    });
    return t?.proposedBySiteId ?? null;
  }

  /** When an admin asked the site to rotate its key (still open), or null. */
  async keyRotationRequestedAt(siteId: string): Promise<Date | null> {
    const s = await this.db.prisma.site.findUnique({
      where: { id: siteId },
      select: { keyRotationRequestedAt: true },
    });
    return s?.keyRotationRequestedAt ?? null;
  }

  /** Whether the site proposed the task or was added as a contributor. */
  async siteWorksOnTask(siteId: string, taskId: string): Promise<boolean> {
    const t = await this.db.prisma.task.findFirst({
      where: { id: taskId, OR: [{ proposedBySiteId: siteId }, { contributors: { some: { siteId } } }] },
      select: { id: true },
    });
    return t !== null;
  }
}
