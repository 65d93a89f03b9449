import { Controller, Get, Query } from '@nestjs/common';
import type { AuditEvent } from '@prisma/client';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import type { AuditEventListResponse, AuditEventView } from '@casam/protocol';
import { Allow } from '../auth/auth.decorators';
import { InvalidInputError } from '../common/domain-error';
import { type AuditCursor, AuditEventRepository } from './audit-event.repository';

export class AuditQueryDto {
  @IsOptional() @IsIn(['admin', 'site', 'system', 'anonymous']) actorType?:
    'admin' | 'site' | 'system' | 'anonymous';
  @IsOptional() @IsString() @MaxLength(200) actorId?: string;
  /** Exact action, e.g. `site.approved`. */
  @IsOptional() @Matches(/^[a-z0-9_.]{1,100}$/) action?: string;
  @IsOptional() @IsIn(['success', 'denied']) outcome?: 'success' | 'denied';
  @IsOptional() @IsString() @MaxLength(50) targetType?: string;
  @IsOptional() @IsString() @MaxLength(200) targetId?: string;
  @IsOptional() @IsUUID() siteId?: string;
  /** ISO 8601; events at or after. */
  @IsOptional() @IsISO8601({ strict: true }) since?: string;
  /** ISO 8601; events before. */
  @IsOptional() @IsISO8601({ strict: true }) until?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  /** `nextCursor` of the previous page. */
  @IsOptional() @Matches(/^[0-9]{13}_[0-9a-f-]{36}$/) cursor?: string;
}

/** The audit log, read-only: who did what, when, from where. Newest first, paged by cursor. */
@Allow('viewer')
@Controller('api/v1/audit-events')
export class AuditController {
  constructor(private readonly audit: AuditEventRepository) {}

  @Get()
  async list(@Query() q: AuditQueryDto): Promise<AuditEventListResponse> {
    const limit = q.limit ?? 100;
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
    const events = await this.audit.list({ ...exact, since, until }, { limit, after });
    const last = events.at(-1);
    return {
      events: events.map(toView),
      nextCursor: events.length === limit && last ? `${last.createdAt.getTime()}_${last.id}` : null,
    };
  }
}

function toView(e: AuditEvent): AuditEventView {
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
