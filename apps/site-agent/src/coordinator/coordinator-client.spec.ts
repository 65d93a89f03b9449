import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_HEADER, PROTOCOL_UPGRADE_HEADER, PROTOCOL_VERSION } from '@casam/protocol';
import { EgressGateway } from '../egress/egress';
import { EgressLog } from '../egress/egress-log';
import { SiteIdentity } from '../identity/site-identity';
import {
  CoordinatorClient,
  CoordinatorError,
  MAX_RATE_LIMIT_WAIT_MS,
  rateLimitDelay,
} from './coordinator-client';

const SITE = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
const ADVICE =
  'protocol 0.0.9 is one minor version behind 0.1.0; the next coordinator release will refuse it';

describe('CoordinatorClient: the protocol handshake as the site sees it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-client-'));
  let server: http.Server;
  /** What the coordinator answers: served with advice, served plainly, or refused (426). */
  let mode: 'advise' | 'plain' | 'refuse' | 'limit' = 'plain';
  /** In `limit` mode: how many more requests are answered 429 (Retry-After: 2). */
  let limited = 0;
  const offered: (string | undefined)[] = [];
  let identity: SiteIdentity;
  let egress: EgressGateway;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      offered.push(req.headers[PROTOCOL_HEADER] as string | undefined);
      req.resume();
      req.on('end', () => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (mode === 'advise') headers[PROTOCOL_UPGRADE_HEADER] = ADVICE;
        if (mode === 'refuse')
          return void res.writeHead(426, headers).end(
            JSON.stringify({
              error: { code: 'protocol_too_old', message: 'upgrade the site agent', correlationId: 'c1' },
            }),
          );
        if (mode === 'limit' && limited > 0) {
          limited--;
          return void res.writeHead(429, { ...headers, 'retry-after': '2' }).end(
            JSON.stringify({
              error: {
                code: 'rate_limited',
                message: 'too many attempts; try again in 2 s',
                correlationId: 'c2',
              },
            }),
          );
        }
        if (req.url === '/api/v1/auth/site-token')
          return void res.writeHead(200, headers).end(
            JSON.stringify({
              accessToken: 'a.b.c',
              tokenType: 'Bearer',
              expiresAt: new Date(Date.now() + 600_000).toISOString(),
            }),
          );
        res.writeHead(200, headers).end('{"version":1}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    identity = await SiteIdentity.generate(join(dir, 'key.jwk'));
    egress = new EgressGateway(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      new EgressLog(join(dir, 'egress.log')),
    );
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (warnings: string[]) =>
    new CoordinatorClient(
      egress,
      identity,
      SITE,
      { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      async () => undefined,
      (l) => warnings.push(l),
    );

  it('states its protocol version on every request and says nothing when the coordinator has no advice', async () => {
    mode = 'plain';
    const warnings: string[] = [];
    await client(warnings).latestBundle();
    expect(offered.length).toBeGreaterThanOrEqual(2); // token exchange + the call
    expect(offered.every((v) => v === PROTOCOL_VERSION)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("passes on the coordinator's upgrade advice once per client, however many calls", async () => {
    mode = 'advise';
    const warnings: string[] = [];
    const c = client(warnings);
    await c.latestBundle();
    await c.latestBundle();
    expect(warnings).toEqual([`warning: the coordinator advises upgrading this site agent: ${ADVICE}`]);
  });

  it('turns a refused protocol (426) into an error with the code and the advice', async () => {
    mode = 'refuse';
    const e = await client([])
      .latestBundle()
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(CoordinatorError);
    expect(e).toMatchObject({ status: 426, code: 'protocol_too_old' });
    expect((e as Error).message).toBe(
      'upgrade the site agent (protocol_too_old, HTTP 426, correlation id c1)',
    );
  });

  it('sends a rate-limited call again after the Retry-After it names, even one that is not idempotent', async () => {
    mode = 'limit';
    limited = 2;
    const waits: number[] = [];
    const c = new CoordinatorClient(
      egress,
      identity,
      SITE,
      { attempts: 4, baseDelayMs: 1, maxDelayMs: 1 },
      async (ms) => void waits.push(ms),
      () => undefined,
    );
    // The token exchange is a POST the client does not mark idempotent.
    expect(await c.accessToken()).toBe('a.b.c');
    expect(waits).toHaveLength(2);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(2000);
      expect(w).toBeLessThan(3000);
    }
  });

  it('gives up with the rate-limit error once its attempts are spent', async () => {
    mode = 'limit';
    limited = 5;
    const e = await client([])
      .latestBundle()
      .catch((err: unknown) => err);
    expect(e).toMatchObject({ status: 429, code: 'rate_limited' });
    limited = 0;
  });

  it('caps the wait and falls back to backoff when Retry-After is missing or a date', () => {
    const p = { baseDelayMs: 100, maxDelayMs: 400 };
    expect(rateLimitDelay('5', 0, p, () => 0.5)).toBe(5500);
    expect(rateLimitDelay('86400', 0, p, () => 0)).toBe(MAX_RATE_LIMIT_WAIT_MS);
    expect(rateLimitDelay(null, 3, p, () => 0.5)).toBe(200);
    expect(rateLimitDelay('Wed, 21 Oct 2026 07:28:00 GMT', 0, p, () => 1)).toBe(100);
  });
});
