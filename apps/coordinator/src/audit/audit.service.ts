import { Injectable } from '@nestjs/common';
import type { AuditEvent } from '@prisma/client';
import type { AuditEventListResponse, AuditEventView, AuditQuery } from '@casam/protocol';
import type { Actor } from '../auth/actor';
import { InvalidInputError } from '../common/domain-error';
import { type AuditCursor, AuditEventRepository, type NewAuditEvent } from './audit-event.repository';

/** Page size of the audit log when the caller names none. */
export const DEFAULT_AUDIT_PAGE = 100;

/** Who did it and from where, as every event by `actor` records it. */
export function auditActor(
  actor: Actor,
): Pick<NewAuditEvent, 'actorType' | 'actorId' | 'address' | 'correlationId'> {
  return {
    actorType: actor.type,
    actorId: actor.id,
    address: actor.meta.address,
    correlationId: actor.meta.correlationId,
  };
}

/**
 * The audit log: the one way anything is written to it (every service, guard, filter and gateway records
 * through here) and the admins' read of it. Never updated, never deleted.
 */
@Injectable()
export class AuditService {
  constructor(private readonly events: AuditEventRepository) {}

  /** Appends one event; address and correlation id default to the current request's. */
  async record(event: NewAuditEvent): Promise<void> {
    await this.events.append(event);
  }

  /** One page, newest first; `cursor` continues below the previous page. */
  async list(q: AuditQuery): Promise<AuditEventListResponse> {
    const limit = q.limit ?? DEFAULT_AUDIT_PAGE;
    let after: AuditCursor | undefined;
    if (q.cursor) {
      const [ms, id] = q.cursor.split('_');
      after = { createdAt: new Date(Number(ms)), id };
    }
    const since = q.since ? new Date(q.since) : undefined;
    const until = q.until ? new Date(q.until) : undefined;
    if (since && until && since >= until)
      throw new InvalidInputError('invalid_range', 'since must be before until');
    const { cursor: _c, limit: _l, since: _s, until: _u, ...exact } = q;
    const events = await this.events.list({ ...exact, since, until }, { limit, after });
    const last = events.at(-1);
    return {
      events: events.map(toAuditEventView),
      nextCursor: events.length === limit && last ? `${last.createdAt.getTime()}_${last.id}` : null,
    };
  }
}

export function toAuditEventView(e: AuditEvent): AuditEventView {
  return {
    id: e.id,
    at: e.createdAt.toISOString(),
    actorType: e.actorType,
    actorId: e.actorId,
    action: e.action,
    outcome: e.outcome,
    targetType: e.targetType,
    targetId: e.targetId,
    siteId: e.siteId,
    address: e.address,
    correlationId: e.correlationId,
    details: e.details as Record<string, unknown>,
  };
}
