import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AccessTokenResponse,
  type ApiErrorBody,
  type CreatedEnrollmentToken,
  type EnrollmentTokenSummary,
  type EnrollSiteResponse,
  KEY_ROTATION_AUDIENCE,
  type RotateSiteKeyResponse,
  type SiteSummary,
} from '@casam/protocol';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import type { TestApp } from '../../testing/test-app';
import { testPostgresUrl } from '../../testing/test-database';
import {
  call,
  enrollApprovedSite,
  enrollSite,
  MovableClock,
  newSiteKey,
  signRotationProof,
  signSiteAssertion,
  siteAccessToken,
  startTestAppWithClock,
  type TestSite,
  type TestSiteKey,
} from '../../testing/test-site';

type Err = ApiErrorBody;
const nowS = () => Math.floor(Date.now() / 1000);

describe('site identity over HTTP (real app, embedded database, real Ed25519 keys)', () => {
  const clock = new MovableClock();
  let t: TestApp;
  let admin: { adminId: string; token: string };
  let viewer: { adminId: string; token: string };
  const events: CoordinatorEvent[] = [];
  let names = 0;
  const siteName = () => `Hospital ${++names}`;

  const api = <T = Record<string, unknown>>(
    method: 'GET' | 'POST',
    route: string,
    opts: { token?: string; body?: unknown } = {},
  ) => call<T>(t.url, method, route, opts);
  const newToken = async (body: Record<string, unknown> = {}) =>
    (await api<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', { token: admin.token, body }))
      .body;
  const enroll = (body: Record<string, unknown>) =>
    api<EnrollSiteResponse & Err>('POST', '/api/v1/sites/enroll', { body });
  const exchange = (assertion: string) =>
    api<AccessTokenResponse & Err>('POST', '/api/v1/auth/site-token', { body: { assertion } });
  const audits = (action: string, outcome?: 'success' | 'denied') =>
    t.db.prisma.auditEvent.findMany({ where: { action, outcome }, orderBy: { createdAt: 'asc' } });

  beforeAll(async () => {
    t = await startTestAppWithClock(clock);
    admin = await t.adminToken('admin');
    viewer = await t.adminToken('viewer');
    const bus = t.app.get(CoordinatorEvents);
    for (const type of [
      'site.enrolled',
      'site.approved',
      'site.rejected',
      'site.revoked',
      'site.key_rotated',
      'site.key_revoked',
      'site.key_rotation_requested',
    ] as const)
      bus.on(type, (e) => void events.push(e));
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    clock.offsetMs = 0;
    events.length = 0;
  });

  describe('enrollment tokens', () => {
    it('shows the token once, stores only its sha256 and never lists the secret', async () => {
      const created = await api<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {
        token: admin.token,
        body: { label: 'St. Olav' },
      });
      expect(created.status).toBe(201);
      expect(created.body.token).toMatch(/^cset_[A-Za-z0-9_-]{43}$/);
      expect(created.body).toMatchObject({ label: 'St. Olav', state: 'active', createdById: admin.adminId });
      const ttl = Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt);
      expect(ttl).toBe(24 * 3600 * 1000);

      const row = await t.db.prisma.enrollmentToken.findUniqueOrThrow({ where: { id: created.body.id } });
      expect(row.tokenHash).toBe(createHash('sha256').update(created.body.token).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(created.body.token.slice(5));

      const list = await api<EnrollmentTokenSummary[]>('GET', '/api/v1/enrollment-tokens', {
        token: viewer.token,
      });
      expect(list.status).toBe(200);
      const listed = list.body.find((x) => x.id === created.body.id);
      expect(listed).toMatchObject({ id: created.body.id, state: 'active' });
      expect(JSON.stringify(list.body)).not.toContain(created.body.token.slice(5));
      expect(listed).not.toHaveProperty('token');
      expect((await audits('enrollment_token.created')).map((a) => a.targetId)).toContain(created.body.id);
    });

    it('lets only admins create and revoke, and bounds the lifetime', async () => {
      expect((await api('POST', '/api/v1/enrollment-tokens', { token: viewer.token, body: {} })).status).toBe(
        403,
      );
      expect((await api('POST', '/api/v1/enrollment-tokens', { body: {} })).status).toBe(401);
      for (const ttlSeconds of [59, 7 * 24 * 3600 + 1, 1.5, '3600']) {
        const r = await api<Err>('POST', '/api/v1/enrollment-tokens', {
          token: admin.token,
          body: { ttlSeconds },
        });
        expect(r.status, `ttlSeconds ${ttlSeconds}`).toBe(400);
        expect(r.body.error.code).toBe('validation_failed');
      }
      const week = await newToken({ ttlSeconds: 7 * 24 * 3600 });
      expect(Date.parse(week.expiresAt) - Date.parse(week.createdAt)).toBe(7 * 24 * 3600 * 1000);
      const r = await api<Err>('POST', '/api/v1/enrollment-tokens', {
        token: admin.token,
        body: { secret: 'x' },
      });
      expect(r.body.error.code).toBe('validation_failed');
    });

    it('revokes an unused token; a revoked token cannot enroll and cannot be revoked again', async () => {
      const tok = await newToken();
      const revoked = await api<EnrollmentTokenSummary>(
        'POST',
        `/api/v1/enrollment-tokens/${tok.id}/revoke`,
        {
          token: admin.token,
        },
      );
      expect(revoked.status).toBe(200);
      expect(revoked.body.state).toBe('revoked');
      const again = await api<Err>('POST', `/api/v1/enrollment-tokens/${tok.id}/revoke`, {
        token: admin.token,
      });
      expect([again.status, again.body.error.code]).toEqual([409, 'enrollment_token_revoked']);
      const missing = await api<Err>('POST', `/api/v1/enrollment-tokens/${crypto.randomUUID()}/revoke`, {
        token: admin.token,
      });
      expect([missing.status, missing.body.error.code]).toEqual([404, 'enrollment_token_not_found']);
      expect(
        (await api('POST', `/api/v1/enrollment-tokens/${tok.id}/revoke`, { token: viewer.token })).status,
      ).toBe(403);
      const key = await newSiteKey();
      const r = await enroll({ enrollmentToken: tok.token, siteName: siteName(), publicJwk: key.publicJwk });
      expect([r.status, r.body.error.code]).toEqual([401, 'enrollment_token_revoked']);
      expect((await audits('enrollment_token.revoked', 'denied')).length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('enrollment', () => {
    it('creates a pending site with its key; the fingerprint is the RFC 7638 thumbprint', async () => {
      const tok = await newToken();
      const key = await newSiteKey();
      const name = siteName();
      const r = await enroll({
        enrollmentToken: tok.token,
        siteName: name,
        publicJwk: key.publicJwk,
        agentVersion: '0.3.1',
      });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        siteId: expect.any(String),
        status: 'pending',
        keyFingerprint: key.fingerprint,
      });
      expect(key.fingerprint).toBe(
        await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x }),
      );
      expect(events).toContainEqual({ type: 'site.enrolled', siteId: r.body.siteId });

      const site = await api<SiteSummary>('GET', `/api/v1/sites/${r.body.siteId}`, { token: viewer.token });
      expect(site.body).toMatchObject({
        name,
        status: 'pending',
        presence: { agentVersion: '0.3.1', lastSeenAddress: '127.0.0.1' },
        keys: [{ fingerprint: key.fingerprint, status: 'active' }],
      });
      const stored = await t.db.prisma.siteKey.findUniqueOrThrow({ where: { fingerprint: key.fingerprint } });
      expect(stored.publicJwk).toEqual(key.publicJwk);
      const used = await api<EnrollmentTokenSummary[]>('GET', '/api/v1/enrollment-tokens', {
        token: admin.token,
      });
      expect(used.body.find((x) => x.id === tok.id)).toMatchObject({
        state: 'used',
        usedBySiteId: r.body.siteId,
      });

      const again = await enroll({
        enrollmentToken: tok.token,
        siteName: siteName(),
        publicJwk: (await newSiteKey()).publicJwk,
      });
      expect([again.status, again.body.error.code]).toEqual([401, 'enrollment_token_used']);
      expect((await audits('site.enrolled')).some((a) => a.siteId === r.body.siteId)).toBe(true);
    });

    it('refuses unknown and expired tokens with their own codes', async () => {
      const key = await newSiteKey();
      const unknown = await enroll({
        enrollmentToken: 'cset_nope',
        siteName: siteName(),
        publicJwk: key.publicJwk,
      });
      expect([unknown.status, unknown.body.error.code]).toEqual([401, 'enrollment_token_invalid']);
      const tok = await newToken({ ttlSeconds: 60 });
      clock.offsetMs = 61_000;
      const expired = await enroll({
        enrollmentToken: tok.token,
        siteName: siteName(),
        publicJwk: key.publicJwk,
      });
      expect([expired.status, expired.body.error.code]).toEqual([401, 'enrollment_token_expired']);
      const list = await api<EnrollmentTokenSummary[]>('GET', '/api/v1/enrollment-tokens', {
        token: admin.token,
      });
      expect(list.body.find((x) => x.id === tok.id)?.state).toBe('expired');
    });

    it('refuses private, foreign and malformed keys before touching the token', async () => {
      const tok = await newToken();
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const privateJwk = await exportJWK(privateKey);
      const rsa = await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey);
      const x25519 = await exportJWK(
        (await generateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true })).publicKey,
      );
      const cases: [unknown, number, string][] = [
        [privateJwk, 400, 'private_key_sent'],
        [{ ...rsa, d: 'AAAA' }, 400, 'private_key_sent'],
        [rsa, 400, 'unsupported_key'],
        [x25519, 400, 'unsupported_key'],
        [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, 400, 'invalid_key'],
        [{ kty: 'OKP', crv: 'Ed25519' }, 400, 'invalid_key'],
        [{ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(42) + '+' }, 400, 'invalid_key'],
        ['a string', 400, 'validation_failed'],
      ];
      for (const [publicJwk, status, code] of cases) {
        const r = await enroll({ enrollmentToken: tok.token, siteName: siteName(), publicJwk });
        expect([r.status, r.body.error.code], JSON.stringify(publicJwk)).toEqual([status, code]);
      }
      expect(
        (
          await enroll({
            enrollmentToken: tok.token,
            siteName: siteName(),
            publicJwk: { ...(await newSiteKey()).publicJwk },
          })
        ).status,
      ).toBe(201);
      expect(
        (await audits('site.enrolled', 'denied')).map((a) => (a.details as { error: string }).error),
      ).toEqual(expect.arrayContaining(['private_key_sent', 'unsupported_key', 'invalid_key']));
    });

    it('refuses a taken name or a known key with 409 and leaves the token usable', async () => {
      const first = await newSiteKey();
      const name = siteName();
      await enrollSite(t.url, admin.token, name, first);
      const tok = await newToken();
      const taken = await enroll({
        enrollmentToken: tok.token,
        siteName: name,
        publicJwk: (await newSiteKey()).publicJwk,
      });
      expect([taken.status, taken.body.error.code]).toEqual([409, 'site_name_taken']);
      const sameKey = await enroll({
        enrollmentToken: tok.token,
        siteName: siteName(),
        publicJwk: first.publicJwk,
      });
      expect([sameKey.status, sameKey.body.error.code]).toEqual([409, 'key_already_registered']);
      expect(await t.db.prisma.site.count({ where: { name: { in: [name] } } })).toBe(1);
      const ok = await enroll({
        enrollmentToken: tok.token,
        siteName: siteName(),
        publicJwk: (await newSiteKey()).publicJwk,
      });
      expect(ok.status).toBe(201);
    });

    it('lets exactly one of several concurrent enrollments with one token win', async () => {
      const tok = await newToken();
      const keys = await Promise.all(Array.from({ length: 6 }, () => newSiteKey()));
      const results = await Promise.all(
        keys.map((k, i) =>
          enroll({ enrollmentToken: tok.token, siteName: `Race ${i}`, publicJwk: k.publicJwk }),
        ),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 401).map((r) => r.body.error.code)).toEqual(
        Array(5).fill('enrollment_token_used'),
      );
      expect(await t.db.prisma.site.count({ where: { name: { startsWith: 'Race ' } } })).toBe(1);
    });

    it('validates the request body', async () => {
      const tok = await newToken();
      const key = await newSiteKey();
      for (const body of [
        { enrollmentToken: tok.token, siteName: '   ', publicJwk: key.publicJwk },
        { enrollmentToken: tok.token, siteName: 'a\u0000b', publicJwk: key.publicJwk },
        { enrollmentToken: tok.token, siteName: 'x'.repeat(201), publicJwk: key.publicJwk },
        { enrollmentToken: tok.token, siteName: 'Fine', publicJwk: key.publicJwk, extra: 1 },
        { siteName: 'Fine', publicJwk: key.publicJwk },
      ]) {
        const r = await enroll(body);
        expect([r.status, r.body.error.code]).toEqual([400, 'validation_failed']);
      }
    });
  });

  describe('admin decisions', () => {
    it('approves only with the fingerprint the hospital read out', async () => {
      const key = await newSiteKey();
      const { siteId } = await enrollSite(t.url, admin.token, siteName(), key);
      events.length = 0;
      const other = await newSiteKey();
      const wrong = await api<Err>('POST', `/api/v1/sites/${siteId}/approve`, {
        token: admin.token,
        body: { keyFingerprint: other.fingerprint },
      });
      expect([wrong.status, wrong.body.error.code]).toEqual([409, 'fingerprint_mismatch']);
      expect(
        (await api<SiteSummary>('GET', `/api/v1/sites/${siteId}`, { token: admin.token })).body.status,
      ).toBe('pending');
      const denied = await audits('site.approved', 'denied');
      expect(denied.find((a) => a.targetId === siteId)).toMatchObject({
        actorId: admin.adminId,
        details: expect.objectContaining({ error: 'fingerprint_mismatch' }),
      });
      expect(
        (
          await api('POST', `/api/v1/sites/${siteId}/approve`, {
            token: viewer.token,
            body: { keyFingerprint: key.fingerprint },
          })
        ).status,
      ).toBe(403);
      expect(events).toEqual([]);

      const ok = await api<SiteSummary>('POST', `/api/v1/sites/${siteId}/approve`, {
        token: admin.token,
        body: { keyFingerprint: key.fingerprint },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'approved', decidedById: admin.adminId });
      expect(events).toEqual([{ type: 'site.approved', siteId }]);
      const twice = await api<Err>('POST', `/api/v1/sites/${siteId}/approve`, {
        token: admin.token,
        body: { keyFingerprint: key.fingerprint },
      });
      expect([twice.status, twice.body.error.code, twice.body.error.details]).toEqual([
        409,
        'site_not_pending',
        { status: 'approved' },
      ]);
      expect((await audits('site.approved', 'success')).some((a) => a.targetId === siteId)).toBe(true);
    });

    it('rejects with a reason; a rejected site is told so when it tries to authenticate', async () => {
      const key = await newSiteKey();
      const { siteId } = await enrollSite(t.url, admin.token, siteName(), key);
      events.length = 0;
      const blank = await api<Err>('POST', `/api/v1/sites/${siteId}/reject`, {
        token: admin.token,
        body: { reason: ' ' },
      });
      expect(blank.body.error.code).toBe('validation_failed');
      const r = await api<SiteSummary>('POST', `/api/v1/sites/${siteId}/reject`, {
        token: admin.token,
        body: { reason: 'not a member hospital' },
      });
      expect(r.body).toMatchObject({ status: 'rejected', statusReason: 'not a member hospital' });
      expect(events).toEqual([{ type: 'site.rejected', siteId }]);
      const x = await exchange(await signSiteAssertion(key, siteId));
      expect([x.status, x.body.error.code, x.body.error.details]).toEqual([
        401,
        'site_not_approved',
        { status: 'rejected', reason: 'not a member hospital' },
      ]);
      const revoke = await api<Err>('POST', `/api/v1/sites/${siteId}/revoke`, {
        token: admin.token,
        body: { reason: 'x' },
      });
      expect([revoke.status, revoke.body.error.code]).toEqual([409, 'site_not_revocable']);
    });

    it('lists sites with keys and presence, filters by status, and answers 404/400 for bad ids', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const all = await api<SiteSummary[]>('GET', '/api/v1/sites', { token: viewer.token });
      const mine = all.body.find((x) => x.id === s.siteId);
      expect(mine).toMatchObject({
        status: 'approved',
        keys: [{ fingerprint: s.key.fingerprint, status: 'active' }],
      });
      expect(mine?.presence.lastSeenAt).not.toBeNull();
      const approved = await api<SiteSummary[]>('GET', '/api/v1/sites?status=approved', {
        token: viewer.token,
      });
      expect(approved.body.every((x) => x.status === 'approved')).toBe(true);
      expect(approved.body.map((x) => x.id)).toContain(s.siteId);
      expect(
        (await api<Err>('GET', '/api/v1/sites?status=lost', { token: viewer.token })).body.error.code,
      ).toBe('validation_failed');
      const missing = await api<Err>('GET', `/api/v1/sites/${crypto.randomUUID()}`, { token: viewer.token });
      expect([missing.status, missing.body.error.code]).toEqual([404, 'site_not_found']);
      expect(
        (await api<Err>('GET', '/api/v1/sites/not-a-uuid', { token: viewer.token })).body.error.code,
      ).toBe('validation_failed');
      expect((await api('GET', '/api/v1/sites', { token: s.accessToken })).status).toBe(403);
    });

    it('revokes a site at once: its access tokens and assertions stop working, site.revoked is emitted', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      expect((await api('GET', '/api/v1/sites/me', { token: s.accessToken })).status).toBe(200);
      const r = await api<SiteSummary>('POST', `/api/v1/sites/${s.siteId}/revoke`, {
        token: admin.token,
        body: { reason: 'hospital left the federation' },
      });
      expect(r.body).toMatchObject({ status: 'revoked', statusReason: 'hospital left the federation' });
      expect(events).toContainEqual({ type: 'site.revoked', siteId: s.siteId });
      const me = await api<Err>('GET', '/api/v1/sites/me', { token: s.accessToken });
      expect([me.status, me.body.error.code]).toEqual([401, 'credentials_revoked']);
      const x = await exchange(await signSiteAssertion(s.key, s.siteId));
      expect([x.status, x.body.error.code]).toEqual([401, 'credentials_revoked']);
      const again = await api<Err>('POST', `/api/v1/sites/${s.siteId}/revoke`, {
        token: admin.token,
        body: { reason: 'x' },
      });
      expect([again.status, again.body.error.code]).toEqual([409, 'site_not_revocable']);
    });
  });

  describe('site-token exchange', () => {
    let s: TestSite;
    beforeAll(async () => {
      s = await enrollApprovedSite(t.url, admin.token, siteName());
    });

    it('answers a short-lived bearer token and records presence', async () => {
      const before = Date.now();
      const r = await exchange(await signSiteAssertion(s.key, s.siteId));
      expect(r.status).toBe(200);
      expect(r.body.tokenType).toBe('Bearer');
      const ttl = Date.parse(r.body.expiresAt) - before;
      expect(ttl).toBeGreaterThan(590_000);
      expect(ttl).toBeLessThanOrEqual(601_000);
      const me = await api<SiteSummary>('GET', '/api/v1/sites/me', { token: r.body.accessToken });
      expect(me.body).toMatchObject({
        id: s.siteId,
        status: 'approved',
        presence: { lastSeenAddress: '127.0.0.1' },
      });
      expect(Date.parse(me.body.presence.lastSeenAt as string)).toBeGreaterThanOrEqual(before - 1000);
      const issued = await audits('site.token_issued');
      expect(issued.at(-1)).toMatchObject({
        actorType: 'site',
        actorId: s.siteId,
        siteId: s.siteId,
        address: '127.0.0.1',
      });
    });

    it('refuses a replayed assertion', async () => {
      const a = await signSiteAssertion(s.key, s.siteId);
      expect((await exchange(a)).status).toBe(200);
      const r = await exchange(a);
      expect([r.status, r.body.error.code]).toEqual([401, 'assertion_replayed']);
    });

    it('lets exactly one of several concurrent uses of one assertion through', async () => {
      const a = await signSiteAssertion(s.key, s.siteId);
      const results = await Promise.all(Array.from({ length: 5 }, () => exchange(a)));
      expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
    });

    it('refuses expired assertions, allowing 30 s of clock skew', async () => {
      const expired = await exchange(
        await signSiteAssertion(s.key, s.siteId, { iat: nowS() - 100, lifetime: 60 }),
      );
      expect([expired.status, expired.body.error.code]).toEqual([401, 'assertion_expired']);
      const skewed = await exchange(
        await signSiteAssertion(s.key, s.siteId, { iat: nowS() - 80, lifetime: 60 }),
      );
      expect(skewed.status).toBe(200); // expired 20 s ago: within the tolerance
      clock.offsetMs = -100_000; // the coordinator's clock is behind: an assertion from its "future"
      const future = await exchange(await signSiteAssertion(s.key, s.siteId));
      expect([future.status, future.body.error.code]).toEqual([401, 'assertion_invalid']);
      expect(future.body.error.message).toMatch(/iat/);
    });

    it('refuses assertions that live longer than 300 s, lack a jti or carry an oversized one', async () => {
      const long = await exchange(await signSiteAssertion(s.key, s.siteId, { lifetime: 301 }));
      expect([long.status, long.body.error.code]).toEqual([401, 'assertion_invalid']);
      expect(long.body.error.message).toMatch(/at most 300 s/);
      const bigJti = await exchange(await signSiteAssertion(s.key, s.siteId, { jti: 'j'.repeat(201) }));
      expect(bigJti.body.error.code).toBe('assertion_invalid');
      const noJti = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: s.key.fingerprint })
        .setIssuer(s.siteId)
        .setSubject(s.siteId)
        .setAudience('casam-coordinator/site-token')
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(s.key.privateKey);
      expect((await exchange(noJti)).body.error.code).toBe('assertion_invalid');
    });

    it('refuses the wrong audience, including a key-rotation proof', async () => {
      for (const aud of ['casam-coordinator-api', KEY_ROTATION_AUDIENCE]) {
        const r = await exchange(await signSiteAssertion(s.key, s.siteId, { aud }));
        expect([r.status, r.body.error.code]).toEqual([401, 'assertion_wrong_audience']);
      }
    });

    it('refuses a wrong signature, a kid of another site and claims naming another site', async () => {
      const other = await enrollApprovedSite(t.url, admin.token, siteName());
      const stranger = await newSiteKey();
      // Signed by a key the coordinator does not know, but naming this site's key.
      const forged = await exchange(
        await signSiteAssertion({ ...stranger, fingerprint: s.key.fingerprint }, s.siteId),
      );
      expect([forged.status, forged.body.error.code]).toEqual([401, 'assertion_invalid']);
      // The other site signs with its own key and claims to be this site.
      const impostor = await exchange(await signSiteAssertion(other.key, s.siteId));
      expect(impostor.body.error.code).toBe('assertion_invalid');
      // This site's signature, but the other site's kid.
      const crossed = await exchange(
        await signSiteAssertion(s.key, other.siteId, { kid: other.key.fingerprint }),
      );
      expect(crossed.body.error.code).toBe('assertion_invalid');
      const sub = await exchange(await signSiteAssertion(s.key, s.siteId, { sub: other.siteId }));
      expect(sub.body.error.code).toBe('assertion_invalid');
    });

    it('refuses unknown keys, missing kids, other algorithms and garbage', async () => {
      const stranger = await newSiteKey();
      const unknown = await exchange(await signSiteAssertion(stranger, s.siteId));
      expect([unknown.status, unknown.body.error.code]).toEqual([401, 'unknown_key']);
      const noKid = await exchange(await signSiteAssertion(s.key, s.siteId, { kid: null }));
      expect(noKid.body.error.code).toBe('assertion_invalid');
      const hs = await new SignJWT({ jti: 'x' })
        .setProtectedHeader({ alg: 'HS256', kid: s.key.fingerprint })
        .setIssuer(s.siteId)
        .setSubject(s.siteId)
        .setAudience('casam-coordinator/site-token')
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(new Uint8Array(32));
      expect((await exchange(hs)).body.error.code).toBe('assertion_invalid');
      expect((await exchange('not.a.jws')).body.error.code).toBe('assertion_invalid');
      const missing = await api<Err>('POST', '/api/v1/auth/site-token', { body: {} });
      expect([missing.status, missing.body.error.code]).toEqual([400, 'validation_failed']);
    });

    it('tells a pending site to wait', async () => {
      const key = await newSiteKey();
      const { siteId } = await enrollSite(t.url, admin.token, siteName(), key);
      const r = await exchange(await signSiteAssertion(key, siteId));
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([
        401,
        'site_not_approved',
        { status: 'pending' },
      ]);
    });

    it('audits every refusal', async () => {
      const before = (await audits('site.token_denied', 'denied')).length;
      await exchange('garbage');
      await exchange(await signSiteAssertion(await newSiteKey(), s.siteId));
      await exchange(await signSiteAssertion(s.key, s.siteId, { aud: 'elsewhere' }));
      const denied = await audits('site.token_denied', 'denied');
      expect(denied.length - before).toBe(3);
      expect(denied.slice(-3).map((a) => (a.details as { error: string }).error)).toEqual([
        'assertion_invalid',
        'unknown_key',
        'assertion_wrong_audience',
      ]);
      expect(denied.at(-1)).toMatchObject({ actorType: 'site', siteId: s.siteId, address: '127.0.0.1' });
      expect(denied.at(-2)).toMatchObject({ actorType: 'anonymous', siteId: null });
    });
  });

  describe('key rotation and key revocation', () => {
    const rotate = (
      site: { siteId: string; accessToken: string },
      newKey: TestSiteKey,
      proof?: Promise<string> | string,
    ) =>
      Promise.resolve(proof ?? signRotationProof(newKey, site.siteId)).then((p) =>
        api<RotateSiteKeyResponse & Err>('POST', '/api/v1/sites/me/keys', {
          token: site.accessToken,
          body: { publicJwk: newKey.publicJwk, proof: p },
        }),
      );

    it('rotates without downtime: the old key works until the grace period ends, then stops', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const next = await newSiteKey();
      const r = await rotate(s, next);
      expect(r.status).toBe(201);
      expect(r.body.key).toMatchObject({ fingerprint: next.fingerprint, status: 'active' });
      expect(r.body.previousKey).toMatchObject({ fingerprint: s.key.fingerprint, status: 'rotated' });
      const grace = Date.parse(r.body.previousKey.notAfter as string) - Date.now();
      expect(grace).toBeGreaterThan(3590_000);
      expect(grace).toBeLessThanOrEqual(3600_000);
      expect(events).toContainEqual({
        type: 'site.key_rotated',
        siteId: s.siteId,
        newKeyId: r.body.key.id,
        oldKeyId: r.body.previousKey.id,
      });

      // In flight: the old access token and a fresh assertion with the old key both still work.
      expect((await api('GET', '/api/v1/sites/me', { token: s.accessToken })).status).toBe(200);
      expect((await exchange(await signSiteAssertion(s.key, s.siteId))).status).toBe(200);
      const fresh = await siteAccessToken(t.url, next, s.siteId);
      const me = await api<SiteSummary>('GET', '/api/v1/sites/me', { token: fresh });
      expect(me.body.keys.map((k) => [k.fingerprint, k.status])).toEqual([
        [next.fingerprint, 'active'],
        [s.key.fingerprint, 'rotated'],
      ]);

      // Late in the grace period the old key still gets a token (valid for 10 more minutes)...
      clock.offsetMs = 3500_000;
      const late = await exchange(await signSiteAssertion(s.key, s.siteId, { iat: nowS() + 3500 }));
      expect(late.status).toBe(200);
      // ...but once the grace period is over, neither that token nor the old key works any more.
      clock.offsetMs = 3601_000;
      const old = await exchange(await signSiteAssertion(s.key, s.siteId, { iat: nowS() + 3601 }));
      expect([old.status, old.body.error.code]).toEqual([401, 'credentials_revoked']);
      const lateUse = await api<Err>('GET', '/api/v1/sites/me', { token: late.body.accessToken });
      expect([lateUse.status, lateUse.body.error.code]).toEqual([401, 'credentials_revoked']);
      expect((await exchange(await signSiteAssertion(next, s.siteId, { iat: nowS() + 3601 }))).status).toBe(
        200,
      );
      expect((await audits('site.key_rotated', 'success')).some((a) => a.siteId === s.siteId)).toBe(true);
    });

    it('lets an admin ask a site to rotate; the request stays open until the site rotates', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const ask = (id: string, token = admin.token) =>
        api<SiteSummary & Err>('POST', `/api/v1/sites/${id}/key-rotation-request`, { token, body: {} });
      const viewerTry = await ask(s.siteId, viewer.token);
      expect([viewerTry.status, viewerTry.body.error.code]).toEqual([403, 'forbidden']);
      const before = clock.now().getTime();
      const r = await ask(s.siteId);
      expect(r.status).toBe(200);
      const at = Date.parse(r.body.keyRotationRequestedAt ?? '');
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(clock.now().getTime());
      expect(events).toContainEqual({
        type: 'site.key_rotation_requested',
        siteId: s.siteId,
        requestedAt: r.body.keyRotationRequestedAt,
      });
      // the site sees the request too (it checks on connect)
      const me = await api<SiteSummary>('GET', '/api/v1/sites/me', { token: s.accessToken });
      expect(me.body.keyRotationRequestedAt).toBe(r.body.keyRotationRequestedAt);
      expect(await rotate(s, await newSiteKey())).toMatchObject({ status: 201 });
      const after = await api<SiteSummary>('GET', `/api/v1/sites/${s.siteId}`, { token: admin.token });
      expect(after.body.keyRotationRequestedAt).toBeNull();
      expect(
        (await audits('site.key_rotation_requested', 'success')).some((a) => a.siteId === s.siteId),
      ).toBe(true);

      // only approved sites; unknown ids are 404
      const pending = await enroll({
        enrollmentToken: (await newToken()).token,
        siteName: siteName(),
        publicJwk: (await newSiteKey()).publicJwk,
      });
      const refused = await ask(pending.body.siteId);
      expect([refused.status, refused.body.error.code]).toEqual([409, 'site_not_approved']);
      expect((await ask(crypto.randomUUID())).status).toBe(404);
      expect(
        (await audits('site.key_rotation_requested', 'denied')).some((a) => a.siteId === pending.body.siteId),
      ).toBe(true);
    });

    it('needs a valid proof by the new key', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const next = await newSiteKey();
      const stranger = await newSiteKey();
      const cases: [Promise<string> | string, string][] = [
        [signRotationProof(stranger, s.siteId), 'proof_invalid'], // signed by another key than the one sent
        [signRotationProof(next, s.siteId, { aud: 'casam-coordinator/site-token' }), 'proof_wrong_audience'],
        [signRotationProof(next, s.siteId, { iat: nowS() - 400 }), 'proof_expired'],
        [signRotationProof(next, s.siteId, { sub: crypto.randomUUID() }), 'proof_invalid'],
        [signRotationProof(next, s.siteId, { lifetime: 600 }), 'proof_invalid'],
        ['not-a-jws', 'proof_invalid'],
      ];
      for (const [proof, code] of cases) {
        const r = await rotate(s, next, proof);
        expect([r.status, r.body.error.code]).toEqual([400, code]);
      }
      const proof = await signRotationProof(next, s.siteId);
      expect((await rotate(s, next, proof)).status).toBe(201);
      const fresh = { siteId: s.siteId, accessToken: await siteAccessToken(t.url, next, s.siteId) };
      const third = await newSiteKey();
      const replay = await api<Err>('POST', '/api/v1/sites/me/keys', {
        token: fresh.accessToken,
        body: { publicJwk: next.publicJwk, proof },
      });
      expect([replay.status, replay.body.error.code]).toEqual([400, 'proof_replayed']);
      const known = await rotate(fresh, next);
      expect([known.status, known.body.error.code]).toEqual([409, 'key_already_registered']);
      // The refused rotation changed nothing: `next` is still the active key.
      const me = await api<SiteSummary>('GET', '/api/v1/sites/me', { token: fresh.accessToken });
      expect(me.body.keys.find((k) => k.status === 'active')?.fingerprint).toBe(next.fingerprint);
      const priv = await api<Err>('POST', '/api/v1/sites/me/keys', {
        token: fresh.accessToken,
        body: {
          publicJwk: { ...third.publicJwk, d: 'AAAA' },
          proof: await signRotationProof(third, s.siteId),
        },
      });
      expect([priv.status, priv.body.error.code]).toEqual([400, 'private_key_sent']);
      expect(
        (await audits('site.key_rotated', 'denied')).filter((a) => a.siteId === s.siteId).length,
      ).toBeGreaterThanOrEqual(cases.length + 3);
    });

    it('lets only a token of the active key rotate, and only sites call the route', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const next = await newSiteKey();
      expect((await rotate(s, next)).status).toBe(201);
      // s.accessToken was obtained with the now rotated key.
      const r = await rotate(s, await newSiteKey());
      expect([r.status, r.body.error.code]).toEqual([409, 'key_not_active']);
      const asAdmin = await api('POST', '/api/v1/sites/me/keys', {
        token: admin.token,
        body: { publicJwk: next.publicJwk, proof: 'x' },
      });
      expect(asAdmin.status).toBe(403);
    });

    it('revokes a single key at once: its tokens and assertions stop working, the site keeps its other keys', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, siteName());
      const next = await newSiteKey();
      const rotated = await rotate(s, next);
      const oldKeyId = rotated.body.previousKey.id;
      const nextToken = await siteAccessToken(t.url, next, s.siteId);
      const r = await api<SiteSummary>('POST', `/api/v1/sites/${s.siteId}/keys/${oldKeyId}/revoke`, {
        token: admin.token,
        body: { reason: 'laptop stolen' },
      });
      expect(r.status).toBe(200);
      expect(r.body.keys.find((k) => k.id === oldKeyId)).toMatchObject({ status: 'revoked' });
      expect(events).toContainEqual({ type: 'site.key_revoked', siteId: s.siteId, keyId: oldKeyId });
      const old = await api<Err>('GET', '/api/v1/sites/me', { token: s.accessToken });
      expect([old.status, old.body.error.code]).toEqual([401, 'credentials_revoked']);
      const x = await exchange(await signSiteAssertion(s.key, s.siteId));
      expect([x.status, x.body.error.code]).toEqual([401, 'credentials_revoked']);
      expect((await api('GET', '/api/v1/sites/me', { token: nextToken })).status).toBe(200);

      const again = await api<Err>('POST', `/api/v1/sites/${s.siteId}/keys/${oldKeyId}/revoke`, {
        token: admin.token,
        body: { reason: 'x' },
      });
      expect([again.status, again.body.error.code]).toEqual([409, 'key_already_revoked']);
      const other = await enrollApprovedSite(t.url, admin.token, siteName());
      const foreign = await api<Err>(
        'POST',
        `/api/v1/sites/${other.siteId}/keys/${rotated.body.key.id}/revoke`,
        {
          token: admin.token,
          body: { reason: 'x' },
        },
      );
      expect([foreign.status, foreign.body.error.code]).toEqual([404, 'site_key_not_found']);
      expect(
        (
          await api('POST', `/api/v1/sites/${s.siteId}/keys/${rotated.body.key.id}/revoke`, {
            token: viewer.token,
            body: { reason: 'x' },
          })
        ).status,
      ).toBe(403);
      expect((await audits('site.key_revoked', 'success')).find((a) => a.siteId === s.siteId)).toMatchObject({
        actorId: admin.adminId,
        details: { keyId: oldKeyId, reason: 'laptop stolen' },
      });
    });
  });
});

describe.skipIf(!testPostgresUrl())(
  'one-time use over HTTP on Postgres (concurrent requests, real row locks)',
  () => {
    const clock = new MovableClock();
    let t: TestApp;
    let admin: { adminId: string; token: string };
    beforeAll(async () => {
      t = await startTestAppWithClock(clock, 'postgres');
      admin = await t.adminToken('admin');
    });
    afterAll(async () => {
      await t?.close();
    });

    it('lets one of several concurrent enrollments with one token win', async () => {
      const tok = await call<CreatedEnrollmentToken>(t.url, 'POST', '/api/v1/enrollment-tokens', {
        token: admin.token,
        body: {},
      });
      const keys = await Promise.all(Array.from({ length: 6 }, () => newSiteKey()));
      const results = await Promise.all(
        keys.map((k, i) =>
          call<Err>(t.url, 'POST', '/api/v1/sites/enroll', {
            body: { enrollmentToken: tok.body.token, siteName: `PG race ${i}`, publicJwk: k.publicJwk },
          }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401, 401, 401, 401]);
      expect(new Set(results.filter((r) => r.status === 401).map((r) => r.body.error.code))).toEqual(
        new Set(['enrollment_token_used']),
      );
      expect(await t.db.prisma.site.count()).toBe(1);
    });

    it('lets one of several concurrent uses of one assertion through, and one of two rotations', async () => {
      const s = await enrollApprovedSite(t.url, admin.token, 'PG General');
      const a = await signSiteAssertion(s.key, s.siteId);
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          call<Err>(t.url, 'POST', '/api/v1/auth/site-token', { body: { assertion: a } }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
      expect(
        results.filter((r) => r.status === 401).every((r) => r.body.error.code === 'assertion_replayed'),
      ).toBe(true);

      const [k1, k2] = [await newSiteKey(), await newSiteKey()];
      const rotations = await Promise.all(
        [k1, k2].map(async (k) =>
          call<Err>(t.url, 'POST', '/api/v1/sites/me/keys', {
            token: s.accessToken,
            body: { publicJwk: k.publicJwk, proof: await signRotationProof(k, s.siteId) },
          }),
        ),
      );
      expect(rotations.map((r) => r.status).sort()).toEqual([201, 409]);
      expect(rotations.find((r) => r.status === 409)?.body.error.code).toBe('key_not_active');
      expect(await t.db.prisma.siteKey.count({ where: { siteId: s.siteId, status: 'active' } })).toBe(1);
    });
  },
);
