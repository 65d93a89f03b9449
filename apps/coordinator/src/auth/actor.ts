import type { AuditActorType } from '@prisma/client';
import type { RequestMeta } from './request-meta';

/** Who did something, and from where: what an audit event needs about the caller. */
export interface Actor {
  type: AuditActorType;
  id: string | null;
  meta: RequestMeta;
}

export interface AdminActor extends Actor {
  type: 'admin';
  id: string;
}

export const adminActor = (adminId: string, meta: RequestMeta): AdminActor => ({
  type: 'admin',
  id: adminId,
  meta,
});
