import type { AuditEvent, Site, SiteKey } from '@prisma/client';
import { describe, expect, it } from 'vitest';
import type { NewAuditEvent } from '../audit/audit-event.repository';
import type { AuditService } from '../audit/audit.service';
import { adminActor } from '../auth/actor';
import type { Clock } from '../common/clock';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import type { SiteKeyRepository } from './site-key.repository';
import type { SiteRepository, SiteStatusChange } from './site.repository';
import { SitesService } from './sites.service';

const now = new Date('2026-11-26T09:00:00Z');
const by = adminActor('admin-1', { address: '10.0.0.1', correlationId: 'c' });

function setup(opts: { loseRace?: boolean } = {}) {
  const site: Site = {
    id: 'site-1',
    name: 'General',
    status: 'pending',
    statusReason: null,
    decidedById: null,
    decidedAt: null,
    lastSeenAt: null,
    lastSeenAddress: null,
    agentVersion: null,
    protocolVersion: null,
    installedBundleVersion: null,
    installedBundleReportedAt: null,
    keyRotationRequestedAt: null,
    createdAt: now,
    updatedAt: now,
  };
  const key = {
    id: 'key-1',
    siteId: 'site-1',
    fingerprint: 'fp-good',
    status: 'active',
    createdAt: now,
  } as SiteKey;
  const changes: SiteStatusChange[] = [];
  const sites = {
    findById: async (id: string) => (id === site.id ? { ...site } : null),
    changeStatus: async (_: string, change: SiteStatusChange) => {
      changes.push(change);
      // Another admin decided between our read and our write.
      if (opts.loseRace) {
        site.status = 'rejected';
        return null;
      }
      if (!change.from.includes(site.status)) return null;
      site.status = change.to;
      return { ...site };
    },
  } as unknown as SiteRepository;
  const keys = { listForSites: async () => [key] } as unknown as SiteKeyRepository;
  const audited: NewAuditEvent[] = [];
  const audit = {
    record: async (e: NewAuditEvent) => (audited.push(e), e as unknown as AuditEvent),
  } as unknown as AuditService;
  const events = new CoordinatorEvents();
  const emitted: CoordinatorEvent[] = [];
  events.on('site.approved', (e) => void emitted.push(e));
  const clock = { now: () => now } as Clock;
  return { service: new SitesService(sites, keys, audit, events, clock), changes, audited, emitted };
}

describe('SitesService.approve', () => {
  it('approves with the active key fingerprint, emits and audits', async () => {
    const { service, changes, audited, emitted } = setup();
    const s = await service.approve('site-1', ' fp-good ', by);
    expect(s.status).toBe('approved');
    expect(changes).toEqual([{ from: ['pending'], to: 'approved', decidedById: 'admin-1', at: now }]);
    expect(emitted).toEqual([{ type: 'site.approved', siteId: 'site-1' }]);
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'site.approved',
        actorId: 'admin-1',
        siteId: 'site-1',
        address: '10.0.0.1',
      }),
    ]);
  });

  it('changes nothing on a fingerprint mismatch and audits the denial', async () => {
    const { service, changes, audited, emitted } = setup();
    await expect(service.approve('site-1', 'fp-evil', by)).rejects.toMatchObject({
      code: 'fingerprint_mismatch',
    });
    expect(changes).toEqual([]);
    expect(emitted).toEqual([]);
    expect(audited).toEqual([
      expect.objectContaining({
        outcome: 'denied',
        details: { keyFingerprint: 'fp-evil', error: 'fingerprint_mismatch' },
      }),
    ]);
  });

  it('reports the status another admin set first when the compare-and-set loses', async () => {
    const { service, emitted } = setup({ loseRace: true });
    await expect(service.approve('site-1', 'fp-good', by)).rejects.toMatchObject({
      code: 'site_not_pending',
      details: { status: 'rejected' },
    });
    expect(emitted).toEqual([]);
  });

  it('answers site_not_found for an unknown site, with no site id in the audit', async () => {
    const { service, audited } = setup();
    await expect(service.approve('nope', 'fp-good', by)).rejects.toMatchObject({
      code: 'site_not_found',
      status: 404,
    });
    expect(audited[0]).toMatchObject({ outcome: 'denied', siteId: null, targetId: 'nope' });
  });
});
