import { Injectable } from '@nestjs/common';
import type { Prisma, Site, SiteStatus } from '@prisma/client';
import type { SiteSummary } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { CoordinatorEvents } from '../events/coordinator-events';
import { SiteKeyRepository } from './site-key.repository';
import { SiteRepository } from './site.repository';
import {
  FingerprintMismatchError,
  KeyAlreadyRevokedError,
  SiteKeyNotFoundError,
  SiteNotApprovedForRotationError,
  SiteNotFoundError,
  SiteNotPendingError,
  SiteNotRevocableError,
} from './site.errors';
import { toSiteSummary } from './site-view';

/** What admins see and decide about sites: approval, rejection, revocation of sites and of single keys. */
@Injectable()
export class SitesService {
  constructor(
    private readonly sites: SiteRepository,
    private readonly keys: SiteKeyRepository,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
  ) {}

  async list(filter: { status?: SiteStatus } = {}): Promise<SiteSummary[]> {
    const sites = await this.sites.list(filter);
    const keys = sites.length > 0 ? await this.keys.listForSites(sites.map((s) => s.id)) : [];
    return sites.map((s) => toSiteSummary(s, keys));
  }

  async get(id: string): Promise<SiteSummary> {
    const site = await this.sites.findById(id);
    if (!site) throw new SiteNotFoundError(id);
    return toSiteSummary(site, await this.keys.listForSites([id]));
  }

  /**
   * Approves a pending site. The admin sends the fingerprint the hospital read to them out of band; it must be
   * the site's active key, so a key swapped in transit is never approved.
   */
  async approve(id: string, keyFingerprint: string, by: Actor): Promise<SiteSummary> {
    return this.audited(by, 'site.approved', id, { keyFingerprint }, async () => {
      const site = await this.pendingSite(id);
      const active = (await this.keys.listForSites([id])).find((k) => k.status === 'active');
      if (!active || active.fingerprint !== keyFingerprint.trim()) throw new FingerprintMismatchError();
      const approved = await this.sites.changeStatus(id, {
        from: ['pending'],
        to: 'approved',
        decidedById: by.id,
        at: this.clock.now(),
      });
      if (!approved) throw await this.notPending(site);
      await this.events.emit({ type: 'site.approved', siteId: id });
      return approved;
    });
  }

  async reject(id: string, reason: string, by: Actor): Promise<SiteSummary> {
    return this.audited(by, 'site.rejected', id, { reason }, async () => {
      const site = await this.pendingSite(id);
      const rejected = await this.sites.changeStatus(id, {
        from: ['pending'],
        to: 'rejected',
        reason,
        decidedById: by.id,
        at: this.clock.now(),
      });
      if (!rejected) throw await this.notPending(site);
      await this.events.emit({ type: 'site.rejected', siteId: id });
      return rejected;
    });
  }

  /**
   * Revokes an approved site: from the next request on, none of its tokens or keys work (the guard checks live),
   * and `site.revoked` tells the socket gateway to disconnect it now.
   */
  async revoke(id: string, reason: string, by: Actor): Promise<SiteSummary> {
    return this.audited(by, 'site.revoked', id, { reason }, async () => {
      const revoked = await this.sites.changeStatus(id, {
        from: ['approved'],
        to: 'revoked',
        reason,
        decidedById: by.id,
        at: this.clock.now(),
      });
      if (!revoked) {
        const site = await this.sites.findById(id);
        if (!site) throw new SiteNotFoundError(id);
        throw new SiteNotRevocableError(id, site.status);
      }
      await this.events.emit({ type: 'site.revoked', siteId: id });
      return revoked;
    });
  }

  /**
   * Asks an approved site to rotate its key: recorded on the site (cleared when it rotates), sent to its open
   * sockets at once (`site.key_rotation_requested`) and seen by its agent on the next connect. Asking again
   * while a request is open just renews it. Emits `site.key_rotation_requested`.
   */
  async requestKeyRotation(id: string, by: Actor): Promise<SiteSummary> {
    return this.audited(by, 'site.key_rotation_requested', id, {}, async () => {
      const at = this.clock.now();
      const site = await this.sites.requestKeyRotation(id, at);
      if (!site) {
        const existing = await this.sites.findById(id);
        if (!existing) throw new SiteNotFoundError(id);
        throw new SiteNotApprovedForRotationError(id, existing.status);
      }
      await this.events.emit({
        type: 'site.key_rotation_requested',
        siteId: id,
        requestedAt: at.toISOString(),
      });
      return site;
    });
  }

  /** Revokes one key at once (a leaked key); the site keeps its other keys. Emits `site.key_revoked`. */
  async revokeKey(siteId: string, keyId: string, reason: string, by: Actor): Promise<SiteSummary> {
    return this.audited(by, 'site.key_revoked', siteId, { keyId, reason }, async () => {
      const key = await this.keys.revoke(siteId, keyId, this.clock.now());
      if (!key) {
        const existing = await this.keys.findById(keyId);
        if (!existing || existing.siteId !== siteId) {
          if (!(await this.sites.findById(siteId))) throw new SiteNotFoundError(siteId);
          throw new SiteKeyNotFoundError(siteId, keyId);
        }
        throw new KeyAlreadyRevokedError(keyId);
      }
      await this.events.emit({ type: 'site.key_revoked', siteId, keyId });
      const site = await this.sites.findById(siteId);
      if (!site) throw new SiteNotFoundError(siteId);
      return site;
    });
  }

  private async pendingSite(id: string): Promise<Site> {
    const site = await this.sites.findById(id);
    if (!site) throw new SiteNotFoundError(id);
    if (site.status !== 'pending') throw new SiteNotPendingError(id, site.status);
    return site;
  }

  /** The error for a compare-and-set that found the site no longer pending (someone decided first). */
  private async notPending(site: Site): Promise<DomainError> {
    const now = await this.sites.findById(site.id);
    return now ? new SiteNotPendingError(site.id, now.status) : new SiteNotFoundError(site.id);
  }

  /** Runs an admin decision and audits it: `success` with the result, or `denied` with the error code. */
  private async audited(
    by: Actor,
    action: string,
    siteId: string,
    details: Prisma.InputJsonObject,
    run: () => Promise<Site>,
  ): Promise<SiteSummary> {
    const base = {
      actorType: by.type,
      actorId: by.id,
      action,
      targetType: 'site',
      targetId: siteId,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
    };
    let site: Site;
    try {
      site = await run();
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          outcome: 'denied',
          siteId: e instanceof SiteNotFoundError ? null : siteId,
          details: { ...details, error: e.code },
          createdAt: this.clock.now(),
        });
      throw e;
    }
    await this.audit.record({ ...base, siteId, details, createdAt: this.clock.now() });
    return toSiteSummary(site, await this.keys.listForSites([siteId]));
  }
}
