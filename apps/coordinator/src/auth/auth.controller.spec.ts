import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AdminSummary, ApiErrorBody, LoginResponse, MeResponse } from '@casam/protocol';
import type { TestApp } from '../../testing/test-app';
import {
  call,
  enrollApprovedSite,
  MovableClock,
  newSiteKey,
  signSiteAssertion,
  startTestAppWithClock,
} from '../../testing/test-site';

type Err = ApiErrorBody;
const PASSWORD = 'correct horse battery';

describe('admin login and admin accounts over HTTP', () => {
  const clock = new MovableClock();
  let t: TestApp;
  let root: { adminId: string; token: string };
  let viewer: { adminId: string; token: string };
  const api = <T = Record<string, unknown>>(
    method: 'GET' | 'POST',
    route: string,
    opts: { token?: string; body?: unknown } = {},
  ) => call<T>(t.url, method, route, opts);
  const login = (email: string, password: string) =>
    api<LoginResponse & Err>('POST', '/api/v1/auth/login', { body: { email, password } });
  const createAdmin = (email: string, role: 'admin' | 'viewer' = 'admin', password = PASSWORD) =>
    api<AdminSummary & Err>('POST', '/api/v1/admins', { token: root.token, body: { email, role, password } });

  beforeAll(async () => {
    t = await startTestAppWithClock(clock);
    root = await t.adminToken('admin');
    viewer = await t.adminToken('viewer');
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    clock.offsetMs = 0;
  });

  it('creates an admin through the API and logs in with a 15-minute token', async () => {
    const created = await createAdmin('Ops.One@Example.org', 'viewer');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'ops.one@example.org', role: 'viewer', disabledAt: null });
    expect(JSON.stringify(created.body)).not.toContain('scrypt');

    const before = Date.now();
    const r = await login('  OPS.one@example.org ', PASSWORD);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      tokenType: 'Bearer',
      admin: { id: created.body.id, email: 'ops.one@example.org', role: 'viewer' },
    });
    const ttl = Date.parse(r.body.expiresAt) - before;
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000 + 1000);

    const me = await api<MeResponse>('GET', '/api/v1/auth/me', { token: r.body.accessToken });
    expect(me.body).toMatchObject({ id: created.body.id, email: 'ops.one@example.org', role: 'viewer' });
    expect(me.body.lastLoginAt).not.toBeNull();
    // A viewer reads, and changes nothing.
    expect((await api('GET', '/api/v1/admins', { token: r.body.accessToken })).status).toBe(200);
    expect(
      (
        await api('POST', '/api/v1/admins', {
          token: r.body.accessToken,
          body: { email: 'x@y.org', role: 'admin', password: PASSWORD },
        })
      ).status,
    ).toBe(403);

    const audit = await t.db.prisma.auditEvent.findMany({ where: { targetId: created.body.id } });
    expect(audit.map((a) => [a.action, a.outcome, a.actorId])).toEqual(
      expect.arrayContaining([
        ['admin.created', 'success', root.adminId],
        ['admin.login_succeeded', 'success', created.body.id],
      ]),
    );
    expect(audit.find((a) => a.action === 'admin.login_succeeded')?.address).toBe('127.0.0.1');
  });

  it('answers a wrong password and an unknown email alike, and audits both', async () => {
    await createAdmin('two@example.org');
    const wrong = await login('two@example.org', 'not the password');
    const unknown = await login('nobody@example.org', 'not the password');
    for (const r of [wrong, unknown]) {
      expect(r.status).toBe(401);
      expect({ ...r.body.error, correlationId: '' }).toEqual({
        code: 'invalid_credentials',
        message: 'wrong email or password',
        correlationId: '',
      });
    }
    const failed = await t.db.prisma.auditEvent.findMany({
      where: { action: 'admin.login_failed', outcome: 'denied' },
      orderBy: { createdAt: 'asc' },
    });
    expect(failed.slice(-2).map((a) => (a.details as { reason: string }).reason)).toEqual([
      'wrong_password',
      'unknown_email',
    ]);
    expect(JSON.stringify(failed)).not.toContain('not the password');
  });

  it('disables an account: it can no longer log in and its tokens stop working at once', async () => {
    const created = await createAdmin('three@example.org');
    const session = await login('three@example.org', PASSWORD);
    expect((await api('GET', '/api/v1/auth/me', { token: session.body.accessToken })).status).toBe(200);

    const disabled = await api<AdminSummary>('POST', `/api/v1/admins/${created.body.id}/disable`, {
      token: root.token,
    });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabledAt).not.toBeNull();
    const me = await api<Err>('GET', '/api/v1/auth/me', { token: session.body.accessToken });
    expect([me.status, me.body.error.code]).toEqual([401, 'credentials_revoked']);
    const again = await login('three@example.org', PASSWORD);
    expect([again.status, again.body.error.code]).toEqual([401, 'account_disabled']);
    // Without the password, a disabled account looks like any other failure.
    expect((await login('three@example.org', 'guessing wrong')).body.error.code).toBe('invalid_credentials');

    const twice = await api<Err>('POST', `/api/v1/admins/${created.body.id}/disable`, { token: root.token });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'admin_already_disabled']);
    const list = await api<AdminSummary[]>('GET', '/api/v1/admins', { token: viewer.token });
    expect(list.body.find((a) => a.id === created.body.id)?.disabledAt).not.toBeNull();
    expect(JSON.stringify(list.body)).not.toMatch(/passwordHash|scrypt/);
  });

  it('refuses to disable yourself, unknown accounts, and callers who are not admins', async () => {
    const self = await api<Err>('POST', `/api/v1/admins/${root.adminId}/disable`, { token: root.token });
    expect([self.status, self.body.error.code]).toEqual([403, 'cannot_disable_self']);
    const unknown = await api<Err>('POST', `/api/v1/admins/${crypto.randomUUID()}/disable`, {
      token: root.token,
    });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'admin_not_found']);
    expect(
      (await api('POST', `/api/v1/admins/${root.adminId}/disable`, { token: viewer.token })).status,
    ).toBe(403);
    expect(
      (await api<Err>('POST', '/api/v1/admins/nope/disable', { token: root.token })).body.error.code,
    ).toBe('validation_failed');
    const denied = await t.db.prisma.auditEvent.findMany({
      where: { action: 'admin.disabled', outcome: 'denied' },
    });
    expect(denied.map((a) => (a.details as { error: string }).error)).toEqual(
      expect.arrayContaining(['cannot_disable_self', 'admin_not_found']),
    );
  });

  it('refuses weak passwords, bad emails, taken emails, unknown roles and unknown fields', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'four@example.org', role: 'admin', password: 'short' }, 'weak_password'],
      [
        { email: 'maria@example.org', role: 'admin', password: 'maria-likes-long-passwords' },
        'weak_password',
      ],
      [{ email: 'not-an-email', role: 'admin', password: PASSWORD }, 'invalid_email'],
      [{ email: 'four@example.org', role: 'root', password: PASSWORD }, 'validation_failed'],
      [{ email: 'four@example.org', role: 'admin', password: PASSWORD, isSuper: true }, 'validation_failed'],
    ];
    for (const [body, code] of cases) {
      const r = await api<Err>('POST', '/api/v1/admins', { token: root.token, body });
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([400, code]);
    }
    expect((await createAdmin('four@example.org')).status).toBe(201);
    const taken = await createAdmin('FOUR@example.org');
    expect([taken.status, taken.body.error.code]).toEqual([409, 'admin_email_taken']);
    const noBody = await api<Err>('POST', '/api/v1/auth/login', { body: { email: 'a@b.org' } });
    expect([noBody.status, noBody.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('needs a token for /auth/me, and an admin one', async () => {
    expect((await api<Err>('GET', '/api/v1/auth/me')).body.error.code).toBe('missing_token');
    const site = await enrollApprovedSite(t.url, root.token, 'Auth Spec Hospital');
    expect((await api('GET', '/api/v1/auth/me', { token: site.accessToken })).status).toBe(403);
  });
});

describe('rate limits on the auth endpoints', () => {
  const clock = new MovableClock();
  let t: TestApp;
  const api = <T = Record<string, unknown>>(route: string, body: unknown) =>
    call<T & Err>(t.url, 'POST', route, { body });

  beforeAll(async () => {
    // 60 a minute = one token a second, 3 at once.
    t = await startTestAppWithClock(clock, 'pglite', {
      COORDINATOR_AUTH_RATE_PER_MINUTE: '60',
      COORDINATOR_AUTH_RATE_BURST: '3',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 rate_limited with Retry-After once the burst is spent, audits it, and refills over time', async () => {
    clock.freeze(); // scrypt takes real time; refills must come only from the test moving the clock
    const attempt = () =>
      api('/api/v1/auth/login', { email: 'who@example.org', password: 'guess guess guess' });
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
    const limited = await attempt();
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.body.error.details).toEqual({ retryAfterSeconds: 1 });
    const audit = await t.db.prisma.auditEvent.findFirst({ where: { action: 'auth.rate_limited' } });
    expect(audit).toMatchObject({
      outcome: 'denied',
      address: '127.0.0.1',
      details: { endpoint: 'login', retryAfterSeconds: 1, email: 'who@example.org' },
    });
    clock.offsetMs += 1000;
    expect((await attempt()).status).toBe(401);
    expect((await attempt()).status).toBe(429);
  });

  it('limits enrollment and the site-token exchange too, each with its own buckets', async () => {
    clock.freeze();
    const key = await newSiteKey();
    const enroll = () =>
      api('/api/v1/sites/enroll', { enrollmentToken: 'cset_x', siteName: 'X', publicJwk: key.publicJwk });
    const exchange = async () =>
      api('/api/v1/auth/site-token', { assertion: await signSiteAssertion(key, crypto.randomUUID()) });
    for (let i = 0; i < 3; i++) expect((await enroll()).body.error.code).toBe('enrollment_token_invalid');
    expect((await enroll()).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await exchange()).body.error.code).toBe('unknown_key');
    const limited = await exchange();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Malformed requests count too: the limit is checked before the body is validated.
    clock.offsetMs += 60_000;
    for (let i = 0; i < 3; i++) expect((await api('/api/v1/auth/site-token', { nope: 1 })).status).toBe(400);
    expect((await api('/api/v1/auth/site-token', { nope: 1 })).status).toBe(429);
  });
});
