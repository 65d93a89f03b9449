import { Injectable } from '@nestjs/common';
import type { EnrollSiteResponse } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import type { RequestMeta } from '../auth/request-meta';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { CoordinatorEvents } from '../events/coordinator-events';
import { parseSitePublicJwk } from '../sites/public-jwk';
import { SiteRepository } from '../sites/site.repository';
import { EnrollmentTokenRepository } from './enrollment-token.repository';
import { hashEnrollmentToken } from './enrollment-tokens.service';

/**
 * A hospital's first contact: it redeems an enrollment token with its site name and public key and becomes a
 * `pending` site, waiting for an admin who checks the key fingerprint out of band.
 */
@Injectable()
export class EnrollmentService {
  constructor(
    private readonly tokens: EnrollmentTokenRepository,
    private readonly sites: SiteRepository,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
  ) {}

  async enroll(
    input: { enrollmentToken: string; siteName: string; publicJwk: unknown; agentVersion?: string },
    meta: RequestMeta,
  ): Promise<EnrollSiteResponse> {
    const siteName = input.siteName.trim();
    const base = {
      action: 'site.enrolled',
      targetType: 'site',
      address: meta.address,
      correlationId: meta.correlationId,
    };
    try {
      // The key is checked before the token is touched: a bad key costs the hospital nothing.
      const key = await parseSitePublicJwk(input.publicJwk);
      const now = this.clock.now();
      const { site, token } = await this.tokens.redeem({
        tokenHash: hashEnrollmentToken(input.enrollmentToken),
        now,
        siteName,
        key,
      });
      await this.sites.recordPresence(site.id, {
        at: now,
        address: meta.address,
        agentVersion: input.agentVersion,
      });
      await this.events.emit({ type: 'site.enrolled', siteId: site.id });
      await this.audit.record({
        ...base,
        actorType: 'site',
        actorId: site.id,
        targetId: site.id,
        siteId: site.id,
        details: { siteName, keyFingerprint: key.fingerprint, enrollmentTokenId: token.id },
        createdAt: now,
      });
      return { siteId: site.id, status: 'pending', keyFingerprint: key.fingerprint };
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          actorType: 'anonymous',
          outcome: 'denied',
          details: { siteName: siteName.slice(0, 200), error: e.code },
          createdAt: this.clock.now(),
        });
      throw e;
    }
  }
}
