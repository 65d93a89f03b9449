import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiErrorBody, AuditEventListResponse } from '@casam/protocol';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { AuditService } from './audit.service';

describe('GET /api/v1/audit-events (real app)', () => {
  let t: TestApp;
  let viewer: string;
  beforeAll(async () => {
    t = await startTestApp('pglite');
    viewer = (await t.adminToken('viewer')).token;
    const audit = t.app.get(AuditService);
    const base = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 7; i++)
      await audit.record({
        actorType: i % 2 ? 'site' : 'admin',
        actorId: `actor-${i}`,
        action: i < 5 ? 'site.approved' : 'admin.login_failed',
        outcome: i < 5 ? 'success' : 'denied',
        createdAt: new Date(base + i * 1000),
        details: { i },
      });
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = async (query: string, token = viewer) => {
    const res = await fetch(`${t.url}/api/v1/audit-events${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as AuditEventListResponse & ApiErrorBody };
  };

  it('pages newest first with a cursor, no event lost or repeated', async () => {
    const seen: number[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const r = await get(`?limit=3&action=site.approved${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.events.map((e) => (e.details as { i: number }).i));
      cursor = r.body.nextCursor;
      pages++;
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    expect(pages).toBe(2);
  });

  it('filters by outcome and time range', async () => {
    const denied = await get('?outcome=denied');
    expect(denied.body.events.map((e) => e.action)).toEqual(['admin.login_failed', 'admin.login_failed']);
    const range = await get('?since=2026-01-01T00:00:01Z&until=2026-01-01T00:00:03Z');
    expect(range.body.events.map((e) => (e.details as { i: number }).i)).toEqual([2, 1]);
  });

  it('refuses unknown filters, bad values and reversed ranges', async () => {
    expect((await get('?colour=red')).body.error.code).toBe('validation_failed');
    expect((await get('?limit=5000')).body.error.code).toBe('validation_failed');
    expect((await get('?outcome=maybe')).body.error.code).toBe('validation_failed');
    expect((await get('?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z')).body.error.code).toBe(
      'invalid_range',
    );
  });

  it('is closed to anonymous callers', async () => {
    expect((await fetch(`${t.url}/api/v1/audit-events`)).status).toBe(401);
  });
});
