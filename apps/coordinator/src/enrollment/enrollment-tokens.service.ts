import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { EnrollmentToken } from '@prisma/client';
import {
  type CreatedEnrollmentToken,
  ENROLLMENT_TOKEN_PREFIX,
  type EnrollmentTokenSummary,
} from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { Actor, AdminActor } from '../auth/actor';
import { Clock } from '../common/clock';
import { EnrollmentTokenRepository } from './enrollment-token.repository';
import { EnrollmentTokenNotFoundError, EnrollmentTokenNotRevocableError } from './enrollment.errors';

export const DEFAULT_ENROLLMENT_TOKEN_TTL_SECONDS = 24 * 3600;
export const MIN_ENROLLMENT_TOKEN_TTL_SECONDS = 60;
export const MAX_ENROLLMENT_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

/** What is stored of a token: its sha256 in hex. The token itself is 256 random bits, so no salt or KDF is needed. */
export function hashEnrollmentToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** One-time, expiring enrollment tokens: created by an admin, shown once, redeemed by one site. */
@Injectable()
export class EnrollmentTokensService {
  constructor(
    private readonly tokens: EnrollmentTokenRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async create(
    input: { label?: string; ttlSeconds?: number },
    by: AdminActor,
  ): Promise<CreatedEnrollmentToken> {
    const now = this.clock.now();
    const ttl = input.ttlSeconds ?? DEFAULT_ENROLLMENT_TOKEN_TTL_SECONDS;
    const token = ENROLLMENT_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const row = await this.tokens.create({
      tokenHash: hashEnrollmentToken(token),
      label: input.label?.trim() || null,
      createdById: by.id,
      expiresAt: new Date(now.getTime() + ttl * 1000),
      createdAt: now,
    });
    await this.audit.record({
      actorType: by.type,
      actorId: by.id,
      action: 'enrollment_token.created',
      targetType: 'enrollment_token',
      targetId: row.id,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
      details: { label: row.label, expiresAt: row.expiresAt.toISOString() },
      createdAt: now,
    });
    return { ...toEnrollmentTokenSummary(row, now), token };
  }

  async list(): Promise<EnrollmentTokenSummary[]> {
    const now = this.clock.now();
    return (await this.tokens.list()).map((t) => toEnrollmentTokenSummary(t, now));
  }

  async revoke(id: string, by: Actor): Promise<EnrollmentTokenSummary> {
    const now = this.clock.now();
    const base = {
      actorType: by.type,
      actorId: by.id,
      action: 'enrollment_token.revoked',
      targetType: 'enrollment_token',
      targetId: id,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
      createdAt: now,
    };
    const row = await this.tokens.revoke(id, now);
    if (!row) {
      const existing = await this.tokens.findById(id);
      const error = !existing
        ? new EnrollmentTokenNotFoundError(id)
        : new EnrollmentTokenNotRevocableError(id, existing.usedAt ? 'used' : 'revoked');
      await this.audit.record({ ...base, outcome: 'denied', details: { error: error.code } });
      throw error;
    }
    await this.audit.record({ ...base, details: { label: row.label } });
    return toEnrollmentTokenSummary(row, now);
  }
}

export function toEnrollmentTokenSummary(t: EnrollmentToken, now: Date): EnrollmentTokenSummary {
  return {
    id: t.id,
    label: t.label,
    state: t.usedAt ? 'used' : t.revokedAt ? 'revoked' : t.expiresAt <= now ? 'expired' : 'active',
    createdById: t.createdById,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    usedAt: t.usedAt?.toISOString() ?? null,
    usedBySiteId: t.usedBySiteId,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}
