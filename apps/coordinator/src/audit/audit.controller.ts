import { Controller, Get } from '@nestjs/common';
import { type AuditEventListResponse, type AuditQuery, HTTP_MESSAGES as M } from '@casam/protocol';
import { Allow } from '../auth/auth.decorators';
import { WireQuery } from '../common/wire-request';
import { AuditService } from './audit.service';

/** The audit log, read-only: who did what, when, from where. Newest first, paged by cursor. */
@Allow('viewer')
@Controller('api/v1/audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  list(@WireQuery(M.list_audit_events) q: AuditQuery): Promise<AuditEventListResponse> {
    return this.audit.list(q);
  }
}
