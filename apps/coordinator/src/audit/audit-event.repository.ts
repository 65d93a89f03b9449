import { Injectable } from '@nestjs/common';
import type { AuditActorType, AuditEvent, AuditOutcome, Prisma } from '@prisma/client';
import { currentRequestContext } from '../common/request-context';
import { Database } from '../database/database';

export interface NewAuditEvent {
  actorType: AuditActorType;
  actorId?: string | null;
  action: string;
  outcome?: AuditOutcome;
  targetType?: string | null;
  targetId?: string | null;
  siteId?: string | null;
  address?: string | null;
  correlationId?: string | null;
  details?: Prisma.InputJsonObject;
  /** Defaults to the database's clock. */
  createdAt?: Date;
}

export interface AuditFilter {
  actorType?: AuditActorType;
  actorId?: string;
  action?: string;
  outcome?: AuditOutcome;
  targetType?: string;
  targetId?: string;
  siteId?: string;
  /** createdAt ≥ since */
  since?: Date;
  /** createdAt < until */
  until?: Date;
}

/** Where a page ends: pass the last event of a page to get the next (older) one. */
export interface AuditCursor {
  createdAt: Date;
  id: string;
}

/** The audit log: append and read, newest first. Never updated, never cascaded into. */
@Injectable()
export class AuditEventRepository {
  constructor(private readonly db: Database) {}

  /** Appends one event; address and correlation id default to the current request's. */
  append(event: NewAuditEvent): Promise<AuditEvent> {
    const ctx = currentRequestContext();
    return this.db.prisma.auditEvent.create({
      data: {
        ...event,
        address: event.address === undefined ? (ctx?.address ?? null) : event.address,
        correlationId: event.correlationId === undefined ? (ctx?.correlationId ?? null) : event.correlationId,
        details: event.details ?? {},
      },
    });
  }

  /** Newest first; `after` continues below a previous page's last event. */
  list(filter: AuditFilter = {}, page: { limit?: number; after?: AuditCursor } = {}): Promise<AuditEvent[]> {
    const where: Prisma.AuditEventWhereInput = { ...whereOf(filter) };
    if (page.after)
      where.OR = [
        { createdAt: { lt: page.after.createdAt } },
        { createdAt: page.after.createdAt, id: { lt: page.after.id } },
      ];
    return this.db.prisma.auditEvent.findMany({
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: Math.min(Math.max(page.limit ?? 100, 1), 1000),
    });
  }

  count(filter: AuditFilter = {}): Promise<number> {
    return this.db.prisma.auditEvent.count({ where: whereOf(filter) });
  }
}

function whereOf(f: AuditFilter): Prisma.AuditEventWhereInput {
  const { since, until, ...exact } = f;
  return {
    ...exact,
    ...(since || until
      ? { createdAt: { ...(since ? { gte: since } : {}), ...(until ? { lt: until } : {}) } }
      : {}),
  };
}
