import { Injectable } from '@nestjs/common';
import type { EnrollmentToken, Site, SiteKey } from '@prisma/client';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';
import { type NewSiteKey, SiteKeyRepository } from '../sites/site-key.repository';
import { SiteNameTakenError } from '../sites/site.errors';
import { EnrollmentTokenRefusedError } from './enrollment.errors';

/** Enrollment tokens (only their sha256) and their one-time redemption into a pending site with its key. */
@Injectable()
export class EnrollmentTokenRepository {
  constructor(
    private readonly db: Database,
    private readonly keys: SiteKeyRepository,
  ) {}

  create(token: {
    tokenHash: string;
    label: string | null;
    createdById: string;
    expiresAt: Date;
    createdAt: Date;
  }): Promise<EnrollmentToken> {
    return this.db.prisma.enrollmentToken.create({ data: token });
  }

  findById(id: string): Promise<EnrollmentToken | null> {
    return this.db.prisma.enrollmentToken.findUnique({ where: { id } });
  }

  /** Newest first. */
  list(): Promise<EnrollmentToken[]> {
    return this.db.prisma.enrollmentToken.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
  }

  /** Revokes a token nobody used yet; null when it is unknown, used or already revoked. */
  async revoke(id: string, at: Date): Promise<EnrollmentToken | null> {
    const { count } = await this.db.prisma.enrollmentToken.updateMany({
      where: { id, usedAt: null, revokedAt: null },
      data: { revokedAt: at },
    });
    return count === 1 ? this.findById(id) : null;
  }

  /**
   * Redeems a token, all or nothing, in one transaction: the token is marked used (compare-and-set, so of two
   * concurrent redemptions exactly one wins), the site is created `pending` with its key, and the token points
   * at it. A taken site name or a known key rolls everything back, so the token stays usable.
   */
  async redeem(input: {
    tokenHash: string;
    now: Date;
    siteName: string;
    key: NewSiteKey;
  }): Promise<{ site: Site; key: SiteKey; token: EnrollmentToken }> {
    return this.db.prisma.$transaction(async (tx) => {
      const { count } = await tx.enrollmentToken.updateMany({
        where: { tokenHash: input.tokenHash, usedAt: null, revokedAt: null, expiresAt: { gt: input.now } },
        data: { usedAt: input.now },
      });
      if (count !== 1) {
        const t = await tx.enrollmentToken.findUnique({ where: { tokenHash: input.tokenHash } });
        throw new EnrollmentTokenRefusedError(
          !t ? 'invalid' : t.revokedAt ? 'revoked' : t.usedAt ? 'used' : 'expired',
        );
      }
      let site: Site;
      try {
        site = await tx.site.create({ data: { name: input.siteName, createdAt: input.now } });
      } catch (e) {
        if (isUniqueViolation(e)) throw new SiteNameTakenError(input.siteName);
        throw e;
      }
      const key = await this.keys.create(site.id, input.key, input.now, tx);
      const token = await tx.enrollmentToken.update({
        where: { tokenHash: input.tokenHash },
        data: { usedBySiteId: site.id },
      });
      return { site, key, token };
    });
  }
}
