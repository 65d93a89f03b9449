import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { beforeEach, expect, it } from 'vitest';
import { AuditEventRepository } from '../audit/audit-event.repository';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { ConflictError } from '../common/domain-error';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import type { Database } from '../database/database';
import { SigningKeyRepository } from './signing-key.repository';
import { SIGNING_KEY_ACTIVATION_DELAY_MS, SigningKeysService } from './signing-keys.service';

class FakeClock extends Clock {
  t = Date.parse('2026-03-01T10:00:00.000Z');
  override now(): Date {
    return new Date(this.t);
  }
}

const secret = new Uint8Array(32).fill(5);

describeEachBackend('SigningKeysService', (db: () => Database) => {
  let clock: FakeClock;
  /** One "replica": its own service and repository on the shared database. */
  const replica = (s: Uint8Array = secret) =>
    new SigningKeysService(
      new SigningKeyRepository(db()),
      new AuditService(new AuditEventRepository(db())),
      clock,
      s,
    );

  beforeEach(async () => {
    await truncateAll(db());
    clock = new FakeClock();
  });

  it('creates exactly one active key when several replicas start at once', async () => {
    await Promise.all(Array.from({ length: 4 }, () => replica().onApplicationBootstrap()));
    const rows = await db().prisma.signingKey.findMany();
    expect(rows.map((r) => r.status)).toEqual(['active']);
    expect(rows[0].privateJwkSealed).toMatch(/^v1\./);
    expect(JSON.stringify(rows[0].publicJwk)).not.toContain('"d"');
    const audit = await new AuditEventRepository(db()).list({ action: 'signing_key.created' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorType: 'system', targetId: rows[0].kid });
  });

  it('signs compact JWS that verify against its JWKS, with kid and typ', async () => {
    const s = replica();
    const payload = new TextEncoder().encode('{"hello":"bundle"}');
    const signed = await s.sign(payload, 'casam-bundle+jws');
    expect(decodeProtectedHeader(signed.jws)).toEqual({
      alg: 'EdDSA',
      kid: signed.kid,
      typ: 'casam-bundle+jws',
    });
    const jwks = await s.jwks();
    expect(jwks.keys).toEqual([
      { kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: signed.kid, alg: 'EdDSA', use: 'sig' },
    ]);
    const verified = await compactVerify(signed.jws, createLocalJWKSet(jwks));
    expect(new TextDecoder().decode(verified.payload)).toBe('{"hello":"bundle"}');
    // another replica with the same secret signs with the same key
    expect((await replica().sign(payload, 'x')).kid).toBe(signed.kid);
  });

  it('refuses to start with a secret that cannot open the stored key', async () => {
    await replica().onApplicationBootstrap();
    await expect(replica(new Uint8Array(32).fill(6)).onApplicationBootstrap()).rejects.toThrow(
      /coordinator secret differs/,
    );
  });

  it('rotates in two steps: pending (published, not signing), then active with the old key retired', async () => {
    const s = replica();
    const first = await s.activeKey();
    const admin = await db().prisma.admin.create({
      data: { email: 'r@example.org', role: 'admin', passwordHash: '!' },
    });

    clock.t += 1000;
    const step1 = await s.rotate({ adminId: admin.id });
    expect(step1).toMatchObject({ action: 'created_pending', retired: null, key: { status: 'pending' } });
    expect(step1.key.activatesAt).toBe(new Date(clock.t + SIGNING_KEY_ACTIVATION_DELAY_MS).toISOString());
    expect((await s.jwks()).keys.map((k) => k.kid)).toEqual([first.kid, step1.key.kid]);
    expect((await s.sign(new Uint8Array([1]), 't')).kid).toBe(first.kid); // pending keys do not sign

    clock.t += 1000;
    const step2 = await s.rotate({ adminId: admin.id });
    expect(step2).toMatchObject({
      action: 'activated',
      key: { kid: step1.key.kid, status: 'active' },
      retired: { kid: first.kid, status: 'retired' },
    });
    expect((await s.sign(new Uint8Array([1]), 't')).kid).toBe(step1.key.kid);
    // the retired key stays published so old bundles keep verifying
    expect((await s.jwks()).keys.map((k) => k.kid).sort()).toEqual([first.kid, step1.key.kid].sort());

    const audit = await new AuditEventRepository(db()).list({ actorId: admin.id });
    expect(audit.map((a) => [a.action, a.targetId])).toEqual([
      ['signing_key.activated', step1.key.kid],
      ['signing_key.created', step1.key.kid],
    ]);
  });

  it('endorses each key with its predecessor, so a site pinning the first key can follow rotations', async () => {
    const s = replica();
    const first = await s.activeKey();
    expect((await s.endorsements()).endorsements).toEqual([]);
    clock.t += 1000;
    const second = (await s.rotate({ adminId: null })).key;
    clock.t += 1000;
    await s.rotate({ adminId: null });
    clock.t += 1000;
    const third = (await s.rotate({ adminId: null })).key;
    const { endorsements } = await s.endorsements();
    expect(endorsements.map((e) => e.kid)).toEqual([second.kid, third.kid]);
    const pubs = new Map((await s.jwks()).keys.map((k) => [k.kid, k]));
    // Walk the chain from the first key only: each endorsement verifies with the key trusted before it.
    let trusted = first.kid;
    for (const e of endorsements) {
      expect(decodeProtectedHeader(e.jws)).toMatchObject({ kid: trusted, typ: 'casam-key-endorsement+jws' });
      const { payload } = await compactVerify(e.jws, createLocalJWKSet({ keys: [pubs.get(trusted)!] }));
      const claims = JSON.parse(new TextDecoder().decode(payload)) as {
        kid: string;
        x: string;
        endorsedBy: string;
      };
      expect(claims).toEqual({ kid: e.kid, x: pubs.get(e.kid)!.x, endorsedBy: trusted });
      trusted = e.kid;
    }
    // Deterministic: the same chain on every call and every replica.
    expect((await replica().endorsements()).endorsements).toEqual(endorsements);
  });

  it('activates a pending key by itself once the delay has passed', async () => {
    const s = replica();
    const first = await s.activeKey();
    clock.t += 1000;
    const { key } = await s.rotate({ adminId: null });
    clock.t += SIGNING_KEY_ACTIVATION_DELAY_MS - 1;
    expect((await s.activeKey()).kid).toBe(first.kid);
    clock.t += 1;
    expect((await s.activeKey()).kid).toBe(key.kid);
    expect((await s.list()).map((k) => [k.kid, k.status])).toEqual([
      [first.kid, 'retired'],
      [key.kid, 'active'],
    ]);
  });

  it('keeps one pending key when rotations race, and one activation wins', async () => {
    const s = replica();
    await s.activeKey();
    const created = await Promise.all([
      replica().rotate({ adminId: null }),
      replica().rotate({ adminId: null }),
    ]);
    expect(new Set(created.map((c) => c.key.kid)).size).toBe(1);
    const results = await Promise.allSettled([
      replica().rotate({ adminId: null }),
      replica().rotate({ adminId: null }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // Either the loser found the key already active (conflict) or it started the next rotation.
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const f of failed) expect(f.reason).toBeInstanceOf(ConflictError);
    const active = await db().prisma.signingKey.findMany({ where: { status: 'active' } });
    expect(active).toHaveLength(1);
    expect(active[0].kid).toBe(created[0].key.kid);
  });
});
