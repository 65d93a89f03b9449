import { Injectable } from '@nestjs/common';
import type { Prisma, SigningKey, SigningKeyStatus } from '@prisma/client';
import { Database } from '../database/database';

/** A new key as the service made it (public JWK, sealed private JWK). */
export interface NewSigningKey {
  kid: string;
  publicJwk: Prisma.InputJsonObject;
  privateJwkSealed: string;
  createdAt: Date;
}

/**
 * Transaction-scoped advisory lock serialising every change of key states, so replicas starting or rotating
 * at the same moment never end up with two active keys (there is no partial unique index in Prisma's schema
 * language to say "at most one active").
 */
const SIGNING_KEY_LOCK = 7_311_031_001;

/** The coordinator's bundle-signing keys. Which transitions are allowed is the service's business. */
@Injectable()
export class SigningKeyRepository {
  constructor(private readonly db: Database) {}

  findActive(): Promise<SigningKey | null> {
    return this.db.prisma.signingKey.findFirst({
      where: { status: 'active' },
      orderBy: { activatedAt: 'desc' },
    });
  }

  findPending(): Promise<SigningKey | null> {
    return this.db.prisma.signingKey.findFirst({
      where: { status: 'pending' },
      orderBy: { createdAt: 'desc' },
    });
  }

  findByKid(kid: string): Promise<SigningKey | null> {
    return this.db.prisma.signingKey.findUnique({ where: { kid } });
  }

  /** Keys in these states, oldest first. */
  list(statuses: readonly SigningKeyStatus[]): Promise<SigningKey[]> {
    return this.db.prisma.signingKey.findMany({
      where: { status: { in: [...statuses] } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
  }

  /** Inserts `key` as active unless a key is active already (then returns that one, `created` false). */
  createActiveIfNone(key: NewSigningKey): Promise<{ key: SigningKey; created: boolean }> {
    return this.locked(async (tx) => {
      const active = await tx.signingKey.findFirst({ where: { status: 'active' } });
      if (active) return { key: active, created: false };
      const row = await tx.signingKey.create({
        data: { ...key, status: 'active', activatedAt: key.createdAt },
      });
      return { key: row, created: true };
    });
  }

  /** Inserts `key` as pending unless a key is pending already (then returns that one, `created` false). */
  createPendingIfNone(key: NewSigningKey): Promise<{ key: SigningKey; created: boolean }> {
    return this.locked(async (tx) => {
      const pending = await tx.signingKey.findFirst({ where: { status: 'pending' } });
      if (pending) return { key: pending, created: false };
      return { key: await tx.signingKey.create({ data: { ...key, status: 'pending' } }), created: true };
    });
  }

  /**
   * Makes the pending key `kid` active and retires the active one, atomically. Null when `kid` is no longer
   * pending (another replica or call activated it first).
   */
  activate(kid: string, at: Date): Promise<{ activated: SigningKey; retired: SigningKey | null } | null> {
    return this.locked(async (tx) => {
      const pending = await tx.signingKey.findUnique({ where: { kid } });
      if (pending?.status !== 'pending') return null;
      const previous = await tx.signingKey.findFirst({ where: { status: 'active' } });
      const retired = previous
        ? await tx.signingKey.update({
            where: { id: previous.id },
            data: { status: 'retired', retiredAt: at },
          })
        : null;
      const activated = await tx.signingKey.update({
        where: { id: pending.id },
        data: { status: 'active', activatedAt: at },
      });
      return { activated, retired };
    });
  }

  private locked<T>(fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    return this.db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK})`);
      return fn(tx);
    });
  }
}
