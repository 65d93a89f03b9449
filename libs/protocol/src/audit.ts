/** One audit event as the REST API shows it (`GET /api/v1/audit-events`). */
export interface AuditEventView {
  id: string;
  /** ISO 8601 UTC. */
  at: string;
  actorType: 'admin' | 'site' | 'system' | 'anonymous';
  actorId: string | null;
  /** Dotted verb, past tense: `site.approved`, `adapter.upload_rejected`, `admin.login_failed`. */
  action: string;
  outcome: 'success' | 'denied';
  targetType: string | null;
  targetId: string | null;
  siteId: string | null;
  address: string | null;
  correlationId: string | null;
  details: Record<string, unknown>;
}

export interface AuditEventListResponse {
  /** Newest first. */
  events: AuditEventView[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}
