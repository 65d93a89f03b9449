import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { UnauthenticatedError } from '../common/domain-error';
import { type AccessTokenClaims, AccessTokenService } from './access-token.service';
import type { Principal } from './principal';
import { PrincipalRepository } from './principal.repository';

/**
 * Turns a bearer token into a live principal: verifies the token, then checks in the database that the admin
 * is still enabled (and takes the role from there), or that the site is still approved and the key it
 * authenticated with is still usable. That live check is what makes a revocation or a demotion take effect on
 * the next request and the next socket event, on every replica.
 */
@Injectable()
export class PrincipalResolver {
  constructor(
    private readonly tokens: AccessTokenService,
    private readonly principals: PrincipalRepository,
    private readonly clock: Clock,
  ) {}

  async resolveToken(token: string): Promise<Principal> {
    return this.resolveClaims(await this.tokens.verify(token));
  }

  /** Re-checks verified claims against the database (sockets call this again before sensitive events). */
  async resolveClaims(claims: AccessTokenClaims): Promise<Principal> {
    if (claims.kind === 'admin') {
      const admin = await this.principals.findAdmin(claims.sub);
      if (!admin)
        throw new UnauthenticatedError('credentials_revoked', 'this admin account no longer exists');
      if (admin.disabledAt)
        throw new UnauthenticatedError('credentials_revoked', 'this admin account is disabled');
      return { kind: 'admin', adminId: admin.id, email: admin.email, role: admin.role, tokenId: claims.jti };
    }
    const key = await this.principals.findSiteKey(claims.kid);
    if (!key || key.siteId !== claims.sub)
      throw new UnauthenticatedError(
        'credentials_revoked',
        'the key this token was issued for no longer exists',
      );
    if (key.site.status !== 'approved')
      throw new UnauthenticatedError(
        'credentials_revoked',
        `site ${key.site.name} is ${key.site.status}, not approved`,
      );
    const now = this.clock.now();
    const usable =
      key.status === 'active' || (key.status === 'rotated' && key.notAfter !== null && key.notAfter > now);
    if (!usable)
      throw new UnauthenticatedError(
        'credentials_revoked',
        `site key ${key.fingerprint} is ${key.status === 'rotated' ? 'rotated out' : key.status}`,
      );
    return {
      kind: 'site',
      siteId: key.siteId,
      siteName: key.site.name,
      keyId: key.id,
      keyFingerprint: key.fingerprint,
      tokenId: claims.jti,
    };
  }
}

/** The bearer token of an `Authorization` header value, or null. */
export function bearerToken(header: string | string[] | undefined): string | null {
  const h = Array.isArray(header) ? header[0] : header;
  const m = h ? /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(h) : null;
  return m ? m[1] : null;
}
