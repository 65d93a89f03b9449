import { Injectable } from '@nestjs/common';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';

/** `jti`s already accepted (table used_token_ids), shared by every replica through the database. */
@Injectable()
export class UsedTokenIdRepository {
  constructor(private readonly db: Database) {}

  /** Records `jti`; false when it was already there (a replay). Atomic: of concurrent callers exactly one wins. */
  async remember(entry: { jti: string; subject: string; expiresAt: Date }): Promise<boolean> {
    try {
      await this.db.prisma.usedTokenId.create({ data: entry });
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  /** Deletes entries that expired before `before`; returns how many. */
  async sweepExpired(before: Date): Promise<number> {
    return (await this.db.prisma.usedTokenId.deleteMany({ where: { expiresAt: { lt: before } } })).count;
  }
}
