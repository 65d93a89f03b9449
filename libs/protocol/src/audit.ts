import { z } from 'zod';
import { queryInt, uuid } from './wire/wire-fields';

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

/** An ISO 8601 date or date-time that names a real instant. */
const isoInstant = z
  .string()
  .max(40)
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/, {
    error: 'must be an ISO 8601 date or date-time',
  })
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be a real date' })
  .meta({ format: 'date-time' });

/** `GET /api/v1/audit-events?…`: exact filters, a time range, a page. */
export const AuditQuerySchema = z.strictObject({
  actorType: z.enum(['admin', 'site', 'system', 'anonymous']).optional(),
  actorId: z.string().max(200).optional(),
  /** Exact action, e.g. `site.approved`. */
  action: z
    .string()
    .regex(/^[a-z0-9_.]{1,100}$/, { error: 'must be an action like site.approved' })
    .optional(),
  outcome: z.enum(['success', 'denied']).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(200).optional(),
  siteId: uuid.optional(),
  /** Events at or after. */
  since: isoInstant.optional(),
  /** Events before. */
  until: isoInstant.optional(),
  /** Page size (default 100). */
  limit: queryInt(1, 1000).optional(),
  /** `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[0-9]{13}_[0-9a-f-]{36}$/, { error: 'must be a nextCursor from a previous page' })
    .optional(),
});
export type AuditQuery = z.infer<typeof AuditQuerySchema>;
