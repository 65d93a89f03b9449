import { beforeEach, expect, it } from 'vitest';
import { AdminRepository } from '../admins/admin.repository';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { SiteNameTakenError } from './site.errors';
import { SiteRepository } from './site.repository';

describeEachBackend('SiteRepository', (db) => {
  let sites: SiteRepository;
  beforeEach(async () => {
    await truncateAll(db());
    sites = new SiteRepository(db());
  });

  it('creates pending sites with unique names', async () => {
    const s = await sites.create({ name: 'St. Elsewhere' });
    expect(s).toMatchObject({
      name: 'St. Elsewhere',
      status: 'pending',
      lastSeenAt: null,
      decidedById: null,
    });
    expect(await sites.findByName('St. Elsewhere')).toEqual(s);
    expect(await sites.findById(s.id)).toEqual(s);
    await expect(sites.create({ name: 'St. Elsewhere' })).rejects.toBeInstanceOf(SiteNameTakenError);
  });

  it('changes status only from the expected states (compare-and-set)', async () => {
    const admin = await new AdminRepository(db()).create({
      email: 'a@x.example',
      passwordHash: 'h',
      role: 'admin',
    });
    const s = await sites.create({ name: 'General' });
    const at = new Date('2026-11-26T12:00:00Z');
    const approved = await sites.changeStatus(s.id, {
      from: ['pending'],
      to: 'approved',
      decidedById: admin.id,
      at,
    });
    expect(approved).toMatchObject({
      status: 'approved',
      decidedById: admin.id,
      decidedAt: at,
      statusReason: null,
    });
    // A second, concurrent decision from 'pending' finds the site already decided.
    expect(await sites.changeStatus(s.id, { from: ['pending'], to: 'rejected', at })).toBeNull();
    const revoked = await sites.changeStatus(s.id, {
      from: ['approved'],
      to: 'revoked',
      reason: 'key leaked',
      at,
    });
    expect(revoked).toMatchObject({ status: 'revoked', statusReason: 'key leaked' });
    expect(
      await sites.changeStatus('00000000-0000-4000-8000-000000000000', {
        from: ['pending'],
        to: 'approved',
        at,
      }),
    ).toBeNull();
  });

  it('records presence without touching fields it was not given', async () => {
    const s = await sites.create({ name: 'Mercy' });
    const t1 = new Date('2026-11-26T12:00:00Z');
    const t2 = new Date('2026-11-26T12:05:00Z');
    expect(
      await sites.recordPresence(s.id, {
        at: t1,
        address: '10.0.0.5',
        agentVersion: '0.1.0',
        protocolVersion: '0.1.0',
      }),
    ).toBe(true);
    expect(await sites.recordPresence(s.id, { at: t2 })).toBe(true);
    expect(await sites.findById(s.id)).toMatchObject({
      lastSeenAt: t2,
      lastSeenAddress: '10.0.0.5',
      agentVersion: '0.1.0',
      protocolVersion: '0.1.0',
    });
  });

  it('lists by status and counts every status', async () => {
    const a = await sites.create({ name: 'A' });
    await sites.create({ name: 'B' });
    await sites.changeStatus(a.id, { from: ['pending'], to: 'approved', at: new Date() });
    expect((await sites.list({ status: 'pending' })).map((s) => s.name)).toEqual(['B']);
    expect((await sites.list()).map((s) => s.name)).toEqual(['A', 'B']);
    expect(await sites.countByStatus()).toEqual({ pending: 1, approved: 1, rejected: 0, revoked: 0 });
  });
});
