import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiErrorBody } from '@casam/protocol';
import { protocolVersionMiddleware, UPGRADE_ADVICE_HEADER } from './protocol-version.middleware';
import { correlationIdMiddleware } from './request-context';

describe('protocol-version handshake (coordinator speaking 2.3.1, real HTTP server)', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    const handshake = protocolVersionMiddleware('2.3.1');
    server = http.createServer((req, res) =>
      correlationIdMiddleware(req, res, () =>
        handshake(req, res, () => {
          res.statusCode = 200;
          res.end('served');
        }),
      ),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const call = (version?: string) =>
    fetch(`${base}/api/v1/x`, { headers: version ? { 'x-casam-protocol': version } : {} });

  it('serves clients without a version, and echoes its own', async () => {
    const r = await call();
    expect(r.status).toBe(200);
    expect(r.headers.get('x-casam-protocol')).toBe('2.3.1');
  });

  it('serves a client one minor behind, with an upgrade hint', async () => {
    const r = await call('2.2.7');
    expect(r.status).toBe(200);
    expect(r.headers.get(UPGRADE_ADVICE_HEADER)).toMatch(/one minor version behind 2\.3\.1/);
    expect((await call('2.3.0')).headers.get(UPGRADE_ADVICE_HEADER)).toBeNull();
  });

  it('refuses older clients with 426 and says what to upgrade, in the standard error body', async () => {
    const r = await call('2.1.0');
    expect(r.status).toBe(426);
    const body = (await r.json()) as ApiErrorBody;
    expect(body.error.code).toBe('protocol_too_old');
    expect(body.error.message).toMatch(/upgrade the site agent .*≥ 2\.2\.0/);
    expect(body.error.correlationId).toBe(r.headers.get('x-correlation-id'));
    expect((await call('1.9.9')).status).toBe(426);
  });

  it('refuses a newer major (426) and a malformed version (400)', async () => {
    expect(((await (await call('3.0.0')).json()) as ApiErrorBody).error.code).toBe('protocol_too_new');
    const bad = await call('latest');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ApiErrorBody).error.code).toBe('protocol_invalid');
  });
});
