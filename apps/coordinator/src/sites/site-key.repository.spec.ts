import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { SiteKeyRepository } from './site-key.repository';
import { SiteRepository } from './site.repository';
import { KeyAlreadyRegisteredError, KeyNotActiveError } from './site.errors';
import { UsedTokenIdRepository } from './used-token-id.repository';

const key = (n: number) => ({
  fingerprint: `fp-${n}`,
  publicJwk: { kty: 'OKP' as const, crv: 'Ed25519' as const, x: `x-${n}` },
});
const at = new Date('2026-11-26T12:00:00Z');
const grace = new Date('2026-11-26T13:00:00Z');

describeEachBackend('SiteKeyRepository', (db) => {
  let keys: SiteKeyRepository;
  let siteId: string;
  beforeEach(async () => {
    await truncateAll(db());
    keys = new SiteKeyRepository(db());
    siteId = (await new SiteRepository(db()).create({ name: 'General' })).id;
  });

  it('creates keys with unique fingerprints and finds them with their site', async () => {
    const k = await keys.create(siteId, key(1), at);
    expect(k).toMatchObject({ siteId, status: 'active', notBefore: at, publicJwk: key(1).publicJwk });
    expect((await keys.findByFingerprint('fp-1'))?.site.name).toBe('General');
    await expect(keys.create(siteId, key(1), at)).rejects.toBeInstanceOf(KeyAlreadyRegisteredError);
  });

  it('rotates: the old key becomes rotated until notAfter, the new one active', async () => {
    const old = await keys.create(siteId, key(1), at);
    const { key: k, previous } = await keys.rotate({
      siteId,
      oldKeyId: old.id,
      key: key(2),
      at,
      notAfter: grace,
    });
    expect(k).toMatchObject({ fingerprint: 'fp-2', status: 'active' });
    expect(previous).toMatchObject({ id: old.id, status: 'rotated', rotatedAt: at, notAfter: grace });
    expect((await keys.listForSites([siteId])).map((x) => x.status).sort()).toEqual(['active', 'rotated']);
  });

  it('lets exactly one of concurrent rotations from the same key win', async () => {
    const old = await keys.create(siteId, key(1), at);
    const results = await Promise.allSettled(
      [2, 3, 4, 5].map((n) => keys.rotate({ siteId, oldKeyId: old.id, key: key(n), at, notAfter: grace })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(KeyNotActiveError);
    const all = await keys.listForSites([siteId]);
    expect(all.filter((k) => k.status === 'active')).toHaveLength(1);
    expect(all).toHaveLength(2);
  });

  it('rolls a rotation back when the new key is already registered', async () => {
    const old = await keys.create(siteId, key(1), at);
    await expect(
      keys.rotate({ siteId, oldKeyId: old.id, key: key(1), at, notAfter: grace }),
    ).rejects.toBeInstanceOf(KeyAlreadyRegisteredError);
    expect(await keys.findById(old.id)).toMatchObject({ status: 'active', notAfter: null });
  });

  it('revokes active and rotated keys of the right site only, once', async () => {
    const old = await keys.create(siteId, key(1), at);
    const { key: k } = await keys.rotate({ siteId, oldKeyId: old.id, key: key(2), at, notAfter: grace });
    const other = (await new SiteRepository(db()).create({ name: 'Other' })).id;
    expect(await keys.revoke(other, old.id, at)).toBeNull();
    expect(await keys.revoke(siteId, old.id, at)).toMatchObject({ status: 'revoked', revokedAt: at });
    expect(await keys.revoke(siteId, old.id, at)).toBeNull();
    expect(await keys.revoke(siteId, k.id, at)).toMatchObject({ status: 'revoked' });
  });
});

describeEachBackend('UsedTokenIdRepository', (db) => {
  let used: UsedTokenIdRepository;
  beforeEach(async () => {
    await truncateAll(db());
    used = new UsedTokenIdRepository(db());
  });

  it('remembers a jti once, also under concurrency, and sweeps expired ones', async () => {
    const entry = { jti: 'a'.repeat(64), subject: 's', expiresAt: new Date('2026-11-26T12:05:00Z') };
    const results = await Promise.all(Array.from({ length: 6 }, () => used.remember(entry)));
    expect(results.filter(Boolean)).toHaveLength(1);
    await used.remember({ ...entry, jti: 'b'.repeat(64), expiresAt: new Date('2026-11-26T13:00:00Z') });
    expect(await used.sweepExpired(new Date('2026-11-26T12:10:00Z'))).toBe(1);
    expect(await used.remember(entry)).toBe(true); // swept: it could not be accepted anyway, past its expiry
    expect(await used.remember({ ...entry, jti: 'b'.repeat(64) })).toBe(false);
  });
});
