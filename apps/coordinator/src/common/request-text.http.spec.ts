import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, apiFor, createTestSite, FINGERPRINT_A, type TestSite } from '../../testing/upload.testing';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { TEST_BACKENDS, testPostgresUrl } from '../../testing/test-database';

const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

const proposal = (over: Record<string, unknown> = {}) => ({
  name: 'liver-ct',
  modality: 'CT',
  targetStructures: ['liver'],
  baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A },
  ...over,
});

/**
 * Text no database can store (NUL, unpaired surrogates) in any string of any request — body, query, path —
 * is a 400 in the documented error shape on both backends, never a 500; names (tasks, modalities, target
 * structures, sites) also refuse control, C1 and bidi-control characters.
 */
for (const backend of TEST_BACKENDS) {
  describe.skipIf(backend === 'postgres' && !testPostgresUrl())(
    `untrusted text in requests [${backend}]`,
    () => {
      let t: TestApp;
      let api: Api;
      let admin: string;
      let site: TestSite;

      beforeAll(async () => {
        t = await startTestApp(backend, {
          env: { COORDINATOR_AUTH_RATE_PER_MINUTE: '100000', COORDINATOR_AUTH_RATE_BURST: '100000' },
        });
        api = apiFor(() => t.url);
        admin = (await t.adminToken('admin')).token;
        site = await createTestSite(t, `text-site-${backend}`);
      });
      afterAll(async () => {
        await t?.close();
      });

      /** A 400 `validation_failed` in the error shape whose problems name `field` and `what`. */
      function expectRefused(
        r: { status: number; body: any; headers: Headers }, // eslint-disable-line @typescript-eslint/no-explicit-any
        field: string,
        what: RegExp,
      ): void {
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(r.body.error).toMatchObject({
          code: 'validation_failed',
          correlationId: r.headers.get('x-correlation-id'),
        });
        expect(r.body.error.message).toMatch(/^invalid request: /);
        const problems = r.body.error.details.problems as string[];
        expect(
          problems.some((p) => p.startsWith(`${field} `) && what.test(p)),
          problems.join(' | '),
        ).toBe(true);
      }

      it('an unauthenticated login with a NUL or a lone surrogate is a 400, and an audited failed login', async () => {
        const cases: [Record<string, string>, string][] = [
          [{ email: `a@b.example${NUL}`, password: 'a sufficiently long password' }, 'email'],
          [{ email: 'a@b.example', password: `pass${LONE_HIGH}word and more` }, 'password'],
          [{ email: `${LONE_LOW}a@b.example`, password: 'a sufficiently long password' }, 'email'],
        ];
        for (const [body, field] of cases) {
          const r = await api('POST', '/api/v1/auth/login', body);
          expectRefused(r, field, /must not contain/);
          const audit = await t.db.prisma.auditEvent.findFirst({
            where: { action: 'admin.login_failed', correlationId: r.headers.get('x-correlation-id') },
          });
          expect(audit, 'failed login audited').toMatchObject({
            actorType: 'anonymous',
            outcome: 'denied',
            address: '127.0.0.1',
            details: { reason: 'invalid_request', error: 'validation_failed' },
          });
          // the email is kept readable, with what cannot be stored replaced
          const email = (audit!.details as { email?: string }).email ?? '';
          expect(email).not.toContain(NUL);
          expect(/[\ud800-\udfff]/.test(email)).toBe(false);
        }
        const first = await t.db.prisma.auditEvent.findFirst({
          where: { action: 'admin.login_failed', details: { path: ['email'], equals: 'a@b.example\ufffd' } },
        });
        expect(first).not.toBeNull();
      });

      it('task names, modalities, structures and base models with a NUL or a lone surrogate are a 400', async () => {
        const token = { token: site.token };
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ name: `liver${NUL}` }), token),
          'name',
          /NUL/,
        );
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ modality: `CT${LONE_HIGH}` }), token),
          'modality',
          /unpaired UTF-16 surrogate/,
        );
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ targetStructures: ['liver', `x${NUL}`] }), token),
          'targetStructures.1',
          /NUL/,
        );
        expectRefused(
          await api(
            'POST',
            '/api/v1/tasks',
            proposal({ baseModel: { preset: `casam-tiny${NUL}`, fingerprint: FINGERPRINT_A } }),
            token,
          ),
          'baseModel.preset',
          /NUL/,
        );
        expect(await t.db.prisma.task.count()).toBe(0);
      });

      it('enrollment-token labels, enrollment fields and reject/revoke reasons with a NUL or a lone surrogate are a 400', async () => {
        const auth = { token: admin };
        expectRefused(
          await api('POST', '/api/v1/enrollment-tokens', { label: `St Olav${NUL}` }, auth),
          'label',
          /NUL/,
        );
        expectRefused(
          await api('POST', '/api/v1/enrollment-tokens', { label: `St Olav${LONE_LOW}` }, auth),
          'label',
          /surrogate/,
        );
        const created = await api('POST', '/api/v1/enrollment-tokens', { label: 'ok' }, auth);
        expect(created.status).toBe(201);
        expectRefused(
          await api('POST', '/api/v1/sites/enroll', {
            enrollmentToken: created.body.token,
            siteName: 'Hospital X',
            publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `AA${NUL}` },
            agentVersion: `0.1.0${NUL}`,
          }),
          'agentVersion',
          /NUL/,
        );
        const pending = await t.db.prisma.site.create({ data: { name: `pending-${backend}` } });
        expectRefused(
          await api('POST', `/api/v1/sites/${pending.id}/reject`, { reason: `no${NUL}` }, auth),
          'reason',
          /NUL/,
        );
        expectRefused(
          await api('POST', `/api/v1/sites/${site.siteId}/revoke`, { reason: `bye${LONE_HIGH}` }, auth),
          'reason',
          /surrogate/,
        );
        expect((await t.db.prisma.site.findUniqueOrThrow({ where: { id: site.siteId } })).status).toBe(
          'approved',
        );
      });

      it('query strings and path parameters are checked the same way', async () => {
        const auth = { token: admin };
        expectRefused(
          await api('GET', '/api/v1/audit-events?actorId=a%00b', undefined, auth),
          'actorId',
          /NUL/,
        );
        expectRefused(
          await api('GET', '/api/v1/audit-events?targetId=x%00', undefined, auth),
          'targetId',
          /NUL/,
        );
        expectRefused(await api('GET', '/api/v1/sites/a%00b', undefined, auth), 'id', /NUL/);
        // (a URL cannot carry an unpaired surrogate: its UTF-8 form does not decode and arrives as U+FFFD)
      });

      it('an object key with a NUL is refused as well, without a 500', async () => {
        const r = await api(
          'POST',
          '/api/v1/auth/login',
          `{"email":"a@b.example","password":"x","x\\u0000":1}`,
        );
        expect(r.status).toBe(400);
        expect(r.body.error.code).toBe('validation_failed');
      });

      it('names refuse newlines, escape sequences, C1 controls and bidi overrides; sites too', async () => {
        const token = { token: site.token };
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ name: 'liver\nINFO fake log line' }), token),
          'name',
          /control character \(U\+000A/,
        );
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ name: '\u001b[2J\u001b[31mliver' }), token),
          'name',
          /control character \(U\+001B/,
        );
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ modality: 'CT\u009b' }), token),
          'modality',
          /control character \(U\+009B/,
        );
        expectRefused(
          await api('POST', '/api/v1/tasks', proposal({ targetStructures: ['liver', 'revil\u202e'] }), token),
          'targetStructures[1]',
          /bidirectional-text control \(U\+202E/,
        );
        // any script and emoji stay welcome
        const ok = await api(
          'POST',
          '/api/v1/tasks',
          proposal({ name: '🫁 lungs 肺', modality: 'КТ', targetStructures: ['Πνεύμονες'] }),
          token,
        );
        expect(ok.status, JSON.stringify(ok.body)).toBe(201);

        const enrollToken = await api('POST', '/api/v1/enrollment-tokens', {}, { token: admin });
        const enroll = await api('POST', '/api/v1/sites/enroll', {
          enrollmentToken: enrollToken.body.token,
          siteName: 'St Olav\u202e',
          publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' },
        });
        expectRefused(enroll, 'siteName', /bidirectional-text control/);
      });
    },
  );
}
