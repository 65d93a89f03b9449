import { Injectable } from '@nestjs/common';
import type { Prisma, Site, SiteKey } from '@prisma/client';
import type { SitePublicJwk } from '@casam/protocol';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';
import { KeyAlreadyRegisteredError, KeyNotActiveError } from './site.errors';

export interface NewSiteKey {
  fingerprint: string;
  publicJwk: SitePublicJwk;
}

type Tx = Prisma.TransactionClient;

/** Sites' public keys. Rules (who may rotate, what is usable) live in the services. */
@Injectable()
export class SiteKeyRepository {
  constructor(private readonly db: Database) {}

  findByFingerprint(fingerprint: string): Promise<(SiteKey & { site: Site }) | null> {
    return this.db.prisma.siteKey.findUnique({ where: { fingerprint }, include: { site: true } });
  }

  findById(id: string): Promise<SiteKey | null> {
    return this.db.prisma.siteKey.findUnique({ where: { id } });
  }

  /** Keys of the given sites, newest first. */
  listForSites(siteIds: readonly string[]): Promise<SiteKey[]> {
    return this.db.prisma.siteKey.findMany({
      where: { siteId: { in: [...siteIds] } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
  }

  /** Creates an `active` key (inside `tx` when given). */
  async create(siteId: string, key: NewSiteKey, at: Date, tx: Tx = this.db.prisma): Promise<SiteKey> {
    try {
      return await tx.siteKey.create({
        data: {
          siteId,
          fingerprint: key.fingerprint,
          publicJwk: { ...key.publicJwk },
          notBefore: at,
          createdAt: at,
        },
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new KeyAlreadyRegisteredError(key.fingerprint);
      throw e;
    }
  }

  /**
   * In one transaction: the active key `oldKeyId` becomes `rotated` (usable until `notAfter`) and `key` becomes
   * the active one. Throws KeyNotActiveError when `oldKeyId` is no longer the site's active key (a concurrent
   * rotation won), KeyAlreadyRegisteredError when the new key is known.
   */
  async rotate(input: {
    siteId: string;
    oldKeyId: string;
    key: NewSiteKey;
    at: Date;
    notAfter: Date;
  }): Promise<{ key: SiteKey; previous: SiteKey }> {
    return this.db.prisma.$transaction(async (tx) => {
      const { count } = await tx.siteKey.updateMany({
        where: { id: input.oldKeyId, siteId: input.siteId, status: 'active' },
        data: { status: 'rotated', rotatedAt: input.at, notAfter: input.notAfter },
      });
      if (count !== 1) throw new KeyNotActiveError();
      const key = await this.create(input.siteId, input.key, input.at, tx);
      // the rotation an admin asked for (if any) is done
      await tx.site.update({ where: { id: input.siteId }, data: { keyRotationRequestedAt: null } });
      const previous = await tx.siteKey.findUniqueOrThrow({ where: { id: input.oldKeyId } });
      return { key, previous };
    });
  }

  /** Revokes an active or rotated key of the site; null when there is none such (unknown or already revoked). */
  async revoke(siteId: string, keyId: string, at: Date): Promise<SiteKey | null> {
    const { count } = await this.db.prisma.siteKey.updateMany({
      where: { id: keyId, siteId, status: { in: ['active', 'rotated'] } },
      data: { status: 'revoked', revokedAt: at },
    });
    return count === 1 ? this.findById(keyId) : null;
  }
}
