import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { AuditEventRepository } from './audit-event.repository';

const site = '11111111-1111-4111-8111-111111111111';
const t = (min: number) => new Date(Date.UTC(2026, 10, 26, 12, min));

describeEachBackend('AuditEventRepository', (db) => {
  let audit: AuditEventRepository;
  beforeEach(async () => {
    await truncateAll(db());
    audit = new AuditEventRepository(db());
    await audit.append({
      actorType: 'admin',
      actorId: 'admin-1',
      action: 'site.approved',
      targetType: 'site',
      targetId: site,
      siteId: site,
      createdAt: t(1),
    });
    await audit.append({
      actorType: 'site',
      actorId: site,
      action: 'adapter.upload_rejected',
      outcome: 'denied',
      siteId: site,
      address: '10.0.0.9',
      correlationId: 'corr-1',
      details: { reason: 'extra tensor', tensors: ['x'] },
      createdAt: t(2),
    });
    await audit.append({
      actorType: 'anonymous',
      action: 'admin.login_failed',
      outcome: 'denied',
      address: '10.0.0.7',
      createdAt: t(3),
    });
    await audit.append({
      actorType: 'system',
      action: 'admin.created',
      targetType: 'admin',
      targetId: 'admin-2',
      createdAt: t(4),
    });
  });

  it('appends events with their details and reads them newest first', async () => {
    const all = await audit.list();
    expect(all.map((e) => e.action)).toEqual([
      'admin.created',
      'admin.login_failed',
      'adapter.upload_rejected',
      'site.approved',
    ]);
    expect(all[2]).toMatchObject({
      outcome: 'denied',
      address: '10.0.0.9',
      correlationId: 'corr-1',
      details: { reason: 'extra tensor', tensors: ['x'] },
      createdAt: t(2),
    });
    expect(all[0].details).toEqual({});
    expect(all[0].outcome).toBe('success');
  });

  it('filters on every indexed field', async () => {
    const actions = async (f: Parameters<AuditEventRepository['list']>[0]) =>
      (await audit.list(f)).map((e) => e.action);
    expect(await actions({ siteId: site })).toEqual(['adapter.upload_rejected', 'site.approved']);
    expect(await actions({ actorType: 'admin', actorId: 'admin-1' })).toEqual(['site.approved']);
    expect(await actions({ action: 'admin.created' })).toEqual(['admin.created']);
    expect(await actions({ outcome: 'denied' })).toEqual(['admin.login_failed', 'adapter.upload_rejected']);
    expect(await actions({ targetType: 'admin', targetId: 'admin-2' })).toEqual(['admin.created']);
    expect(await actions({ since: t(2), until: t(4) })).toEqual([
      'admin.login_failed',
      'adapter.upload_rejected',
    ]);
    expect(await audit.count({ outcome: 'denied' })).toBe(2);
    expect(await audit.count()).toBe(4);
  });

  it('pages with a cursor, also across events with the same timestamp', async () => {
    for (let i = 0; i < 5; i++) await audit.append({ actorType: 'system', action: 'tick', createdAt: t(10) });
    const seen: string[] = [];
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const page = await audit.list({}, { limit: 3, after });
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.id));
      const last = page[page.length - 1];
      after = { createdAt: last.createdAt, id: last.id };
    }
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
  });
});
