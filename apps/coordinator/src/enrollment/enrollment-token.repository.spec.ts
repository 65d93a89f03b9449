import { beforeEach, expect, it } from 'vitest';
import { AdminRepository } from '../admins/admin.repository';
import { SiteKeyRepository } from '../sites/site-key.repository';
import { KeyAlreadyRegisteredError, SiteNameTakenError } from '../sites/site.errors';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { EnrollmentTokenRepository } from './enrollment-token.repository';
import { EnrollmentTokenRefusedError } from './enrollment.errors';

const key = (n: number) => ({
  fingerprint: `fp-${n}`,
  publicJwk: { kty: 'OKP' as const, crv: 'Ed25519' as const, x: `x-${n}` },
});

describeEachBackend('EnrollmentTokenRepository', (db) => {
  let tokens: EnrollmentTokenRepository;
  let adminId: string;
  const now = new Date('2026-11-26T12:00:00Z');
  const later = new Date('2026-11-27T12:00:00Z');
  let n = 0;
  const newToken = (expiresAt = later) =>
    tokens.create({
      tokenHash: `${++n}`.padStart(64, '0'),
      label: null,
      createdById: adminId,
      expiresAt,
      createdAt: now,
    });
  const redeem = (tokenHash: string, siteName: string, k = key(++n), at = now) =>
    tokens.redeem({ tokenHash, now: at, siteName, key: k });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'redeemed',
      (e: unknown) => (e instanceof EnrollmentTokenRefusedError ? e.code : e),
    );

  beforeEach(async () => {
    await truncateAll(db());
    tokens = new EnrollmentTokenRepository(db(), new SiteKeyRepository(db()));
    adminId = (
      await new AdminRepository(db()).create({ email: 'a@x.example', passwordHash: 'h', role: 'admin' })
    ).id;
  });

  it('redeems a token into a pending site with its active key, once', async () => {
    const t = await newToken();
    const { site, key: k, token } = await redeem(t.tokenHash, 'General', key(1));
    expect(site).toMatchObject({ name: 'General', status: 'pending' });
    expect(k).toMatchObject({ siteId: site.id, fingerprint: 'fp-1', status: 'active' });
    expect(token).toMatchObject({ usedAt: now, usedBySiteId: site.id });
    expect(await refusal(redeem(t.tokenHash, 'Other'))).toBe('enrollment_token_used');
  });

  it('says why a token is refused: unknown, expired, revoked, used', async () => {
    expect(await refusal(redeem('f'.repeat(64), 'A'))).toBe('enrollment_token_invalid');
    const expired = await newToken(now);
    expect(await refusal(redeem(expired.tokenHash, 'A'))).toBe('enrollment_token_expired');
    const revoked = await newToken();
    expect(await tokens.revoke(revoked.id, now)).toMatchObject({ revokedAt: now });
    expect(await tokens.revoke(revoked.id, now)).toBeNull();
    expect(await refusal(redeem(revoked.tokenHash, 'A'))).toBe('enrollment_token_revoked');
    expect(await db().prisma.site.count()).toBe(0);
  });

  it('rolls everything back when the name or the key is taken: the token stays usable', async () => {
    await redeem((await newToken()).tokenHash, 'Taken', key(100));
    const t = await newToken();
    await expect(redeem(t.tokenHash, 'Taken')).rejects.toBeInstanceOf(SiteNameTakenError);
    await expect(redeem(t.tokenHash, 'Fresh', key(100))).rejects.toBeInstanceOf(KeyAlreadyRegisteredError);
    expect(await db().prisma.site.count()).toBe(1);
    expect(await tokens.findById(t.id)).toMatchObject({ usedAt: null, usedBySiteId: null });
    expect((await redeem(t.tokenHash, 'Fresh')).site.name).toBe('Fresh');
  });

  it('lets exactly one of many concurrent redemptions of one token win', async () => {
    const t = await newToken();
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => refusal(redeem(t.tokenHash, `Site ${i}`))),
    );
    expect(outcomes.filter((o) => o === 'redeemed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'enrollment_token_used')).toHaveLength(7);
    expect(await db().prisma.site.count()).toBe(1);
    expect(await db().prisma.siteKey.count()).toBe(1);
  });

  it('cannot revoke a used token', async () => {
    const t = await newToken();
    await redeem(t.tokenHash, 'Used');
    expect(await tokens.revoke(t.id, now)).toBeNull();
    expect((await tokens.list()).map((x) => x.id)).toContain(t.id);
  });
});
