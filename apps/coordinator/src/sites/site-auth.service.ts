import { Injectable } from '@nestjs/common';
import { type AccessTokenResponse, SITE_TOKEN_AUDIENCE } from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import { AccessTokenService } from '../auth/access-token.service';
import type { RequestMeta } from '../auth/request-meta';
import { Clock } from '../common/clock';
import { DomainError, UnauthenticatedError } from '../common/domain-error';
import { ReplayGuard } from './replay-guard';
import { assertionKeyId, SignedAssertionError, verifySignedAssertion } from './signed-assertion';
import { SiteKeyRepository } from './site-key.repository';
import { SiteRepository } from './site.repository';

/** 401 `site_not_approved`: the site is pending (wait for the admin) or rejected (stop trying). */
export class SiteNotApprovedError extends DomainError {
  constructor(status: string, reason: string | null) {
    super(
      'site_not_approved',
      status === 'pending'
        ? 'this site is waiting for an admin to approve it; try again later'
        : `this site was ${status}${reason ? `: ${reason}` : ''}`,
      401,
      { status, ...(reason ? { reason } : {}) },
    );
  }
}

/**
 * The private-key JWT exchange (RFC 7523 style): a site signs a short assertion with its key and gets a
 * short-lived access token. Checks, in order: a well-formed EdDSA JWS naming a known key (`kid`), the signature
 * and claims (audience, iss = sub = the key's site, expiry with clock tolerance, ≤ 300 s lifetime), the key and
 * the site still usable, and finally the `jti` not seen before. Every refusal is audited.
 */
@Injectable()
export class SiteAuthService {
  constructor(
    private readonly keys: SiteKeyRepository,
    private readonly sites: SiteRepository,
    private readonly tokens: AccessTokenService,
    private readonly replay: ReplayGuard,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async exchange(assertion: string, meta: RequestMeta): Promise<AccessTokenResponse> {
    let kid: string | undefined;
    /** The site whose key was named, and whether it is proven to have signed. */
    let siteId: string | null = null;
    let signedBySite = false;
    try {
      kid = assertionKeyId('assertion', assertion);
      const key = await this.keys.findByFingerprint(kid);
      if (!key) throw new UnauthenticatedError('unknown_key', `no site key has the fingerprint ${kid}`);
      siteId = key.siteId;
      const now = this.clock.now();
      const claims = await verifySignedAssertion(assertion, key.publicJwk as Record<string, string>, {
        kind: 'assertion',
        audience: SITE_TOKEN_AUDIENCE,
        issuer: key.siteId,
        subject: key.siteId,
        now,
      });
      signedBySite = true;
      if (key.status === 'revoked')
        throw new UnauthenticatedError('credentials_revoked', `site key ${kid} is revoked`);
      if (key.status === 'rotated' && !(key.notAfter && key.notAfter > now))
        throw new UnauthenticatedError(
          'credentials_revoked',
          `site key ${kid} was rotated out at ${key.notAfter?.toISOString() ?? 'rotation'}; sign with the new key`,
        );
      if (key.site.status === 'revoked')
        throw new UnauthenticatedError('credentials_revoked', `site ${key.site.name} is revoked`);
      if (key.site.status !== 'approved')
        throw new SiteNotApprovedError(key.site.status, key.site.statusReason);
      await this.replay.consume('assertion', key.siteId, claims.jti, claims.exp);

      const issued = await this.tokens.issueSite(key.siteId, key.id);
      await this.sites.recordPresence(key.siteId, { at: now, address: meta.address });
      await this.audit.record({
        actorType: 'site',
        actorId: key.siteId,
        action: 'site.token_issued',
        targetType: 'site_key',
        targetId: key.id,
        siteId: key.siteId,
        address: meta.address,
        correlationId: meta.correlationId,
        details: { kid, tokenId: issued.tokenId, expiresAt: issued.expiresAt.toISOString() },
        createdAt: now,
      });
      return { accessToken: issued.token, tokenType: 'Bearer', expiresAt: issued.expiresAt.toISOString() };
    } catch (e) {
      if (e instanceof SignedAssertionError && e.signatureVerified) signedBySite = true;
      if (e instanceof DomainError)
        await this.audit.record({
          // The site is the actor only when its signature verified; otherwise it is the target of an attempt.
          actorType: signedBySite ? 'site' : 'anonymous',
          actorId: signedBySite ? siteId : null,
          action: 'site.token_denied',
          outcome: 'denied',
          targetType: 'site_key',
          targetId: kid ?? null,
          siteId,
          address: meta.address,
          correlationId: meta.correlationId,
          details: { error: e.code },
          createdAt: this.clock.now(),
        });
      throw e;
    }
  }
}
