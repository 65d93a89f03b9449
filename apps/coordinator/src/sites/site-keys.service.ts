import { Inject, Injectable } from '@nestjs/common';
import { KEY_ROTATION_AUDIENCE, type RotateSiteKeyResponse, type SiteSummary } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { RequestMeta } from '../auth/request-meta';
import type { SitePrincipal } from '../auth/principal';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { COORDINATOR_CONFIG } from '../config/config.module';
import type { CoordinatorConfig } from '../config/coordinator-config';
import { CoordinatorEvents } from '../events/coordinator-events';
import { parseSitePublicJwk } from './public-jwk';
import { ReplayGuard } from './replay-guard';
import { verifySignedAssertion } from './signed-assertion';
import { SiteKeyRepository } from './site-key.repository';
import { SiteRepository } from './site.repository';
import { KeyNotActiveError, SiteNotFoundError } from './site.errors';
import { toSiteKeySummary, toSiteSummary } from './site-view';

/** What a site does with its own identity: read it, and rotate its key without downtime. */
@Injectable()
export class SiteKeysService {
  constructor(
    private readonly sites: SiteRepository,
    private readonly keys: SiteKeyRepository,
    private readonly replay: ReplayGuard,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
  ) {}

  async me(site: SitePrincipal): Promise<SiteSummary> {
    const row = await this.sites.findById(site.siteId);
    if (!row) throw new SiteNotFoundError(site.siteId);
    return toSiteSummary(row, await this.keys.listForSites([site.siteId]));
  }

  /**
   * Registers a new key. `proof`, signed by the new private key, shows the site holds that key; only a token
   * obtained with the current active key may rotate, so a rotated-out key cannot take the site over. The
   * previous active key keeps working for COORDINATOR_KEY_ROTATION_GRACE_SECONDS, so tokens and assertions
   * already in flight are not cut off.
   */
  async rotate(
    site: SitePrincipal,
    input: { publicJwk: unknown; proof: string },
    meta: RequestMeta,
  ): Promise<RotateSiteKeyResponse> {
    const base = {
      actorType: 'site' as const,
      actorId: site.siteId,
      action: 'site.key_rotated',
      targetType: 'site_key',
      siteId: site.siteId,
      address: meta.address,
      correlationId: meta.correlationId,
    };
    try {
      const current = await this.keys.findById(site.keyId);
      if (current?.status !== 'active') throw new KeyNotActiveError();
      const parsed = await parseSitePublicJwk(input.publicJwk);
      const now = this.clock.now();
      const proof = await verifySignedAssertion(input.proof, parsed.publicJwk, {
        kind: 'proof',
        audience: KEY_ROTATION_AUDIENCE,
        subject: site.siteId,
        now,
      });
      await this.replay.consume('proof', site.siteId, proof.jti, proof.exp);
      const { key, previous } = await this.keys.rotate({
        siteId: site.siteId,
        oldKeyId: site.keyId,
        key: parsed,
        at: now,
        notAfter: new Date(now.getTime() + this.config.auth.keyRotationGraceSeconds * 1000),
      });
      await this.events.emit({
        type: 'site.key_rotated',
        siteId: site.siteId,
        newKeyId: key.id,
        oldKeyId: previous.id,
      });
      await this.audit.record({
        ...base,
        targetId: key.id,
        details: {
          fingerprint: key.fingerprint,
          previousKeyId: previous.id,
          previousNotAfter: previous.notAfter?.toISOString() ?? null,
        },
        createdAt: now,
      });
      return { key: toSiteKeySummary(key), previousKey: toSiteKeySummary(previous) };
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          targetId: site.keyId,
          outcome: 'denied',
          details: { error: e.code },
          createdAt: this.clock.now(),
        });
      throw e;
    }
  }
}
