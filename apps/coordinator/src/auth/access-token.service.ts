import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AdminRole } from '@prisma/client';
import { errors, jwtVerify, SignJWT } from 'jose';
import { Clock } from '../common/clock';
import { UnauthenticatedError } from '../common/domain-error';
import { COORDINATOR_SECRET } from './auth.tokens';
import { deriveKey } from './coordinator-secret';

/** `iss` of every access token. */
export const ACCESS_TOKEN_ISSUER = 'casam-coordinator';
/** `aud` of access tokens: the coordinator's own API (REST and socket). */
export const ACCESS_TOKEN_AUDIENCE = 'casam-coordinator-api';
export const ADMIN_TOKEN_TTL_SECONDS = 15 * 60;
export const SITE_TOKEN_TTL_SECONDS = 10 * 60;
/** Accepted clock difference between the coordinator and whoever made a token or assertion. */
export const CLOCK_TOLERANCE_SECONDS = 30;

export type AccessTokenClaims =
  | { kind: 'admin'; sub: string; role: AdminRole; jti: string; exp: number; iat: number }
  | { kind: 'site'; sub: string; kid: string; jti: string; exp: number; iat: number };

export interface IssuedToken {
  token: string;
  tokenId: string;
  expiresAt: Date;
}

/**
 * Short-lived bearer tokens the coordinator hands out (admin login, site assertion exchange) and checks on
 * every request and socket connection. HS256 under a key derived from the coordinator secret, so every replica
 * with the same secret accepts them. A token proves who it was issued to; whether that account, site or key
 * still counts is checked live by {@link PrincipalResolver}, so revocation needs no token blacklist.
 */
@Injectable()
export class AccessTokenService {
  private readonly key: Uint8Array;

  constructor(
    @Inject(COORDINATOR_SECRET) secret: Uint8Array,
    private readonly clock: Clock,
  ) {
    this.key = deriveKey(secret, 'access-token');
  }

  issueAdmin(adminId: string, role: AdminRole, ttlSeconds = ADMIN_TOKEN_TTL_SECONDS): Promise<IssuedToken> {
    return this.issue({ kind: 'admin', role }, adminId, ttlSeconds);
  }

  issueSite(siteId: string, keyId: string, ttlSeconds = SITE_TOKEN_TTL_SECONDS): Promise<IssuedToken> {
    return this.issue({ kind: 'site', kid: keyId }, siteId, ttlSeconds);
  }

  private async issue(claims: Record<string, unknown>, sub: string, ttl: number): Promise<IssuedToken> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    const tokenId = randomUUID();
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setSubject(sub)
      .setJti(tokenId)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(this.key);
    return { token, tokenId, expiresAt: new Date((now + ttl) * 1000) };
  }

  /** Verifies signature, issuer, audience and expiry (with clock tolerance); throws UnauthenticatedError. */
  async verify(token: string): Promise<AccessTokenClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        issuer: ACCESS_TOKEN_ISSUER,
        audience: ACCESS_TOKEN_AUDIENCE,
        algorithms: ['HS256'],
        typ: 'at+jwt',
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: this.clock.now(),
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      }));
    } catch (e) {
      throw accessTokenError(e);
    }
    const base = {
      sub: payload.sub as string,
      jti: payload.jti as string,
      exp: payload.exp as number,
      iat: payload.iat as number,
    };
    if (payload['kind'] === 'admin' && (payload['role'] === 'admin' || payload['role'] === 'viewer'))
      return { kind: 'admin', role: payload['role'], ...base };
    if (payload['kind'] === 'site' && typeof payload['kid'] === 'string')
      return { kind: 'site', kid: payload['kid'], ...base };
    throw new UnauthenticatedError('invalid_token', 'access token has an unknown kind');
  }
}

/** Maps jose's verification failures onto stable error codes. */
export function accessTokenError(e: unknown): UnauthenticatedError {
  if (e instanceof errors.JWTExpired)
    return new UnauthenticatedError('token_expired', 'access token has expired; get a new one');
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud')
      return new UnauthenticatedError('token_wrong_audience', 'access token was issued for another audience');
    if (e.claim === 'iss')
      return new UnauthenticatedError('invalid_token', 'access token was issued by someone else');
    return new UnauthenticatedError('invalid_token', `access token claim ${e.claim} is invalid: ${e.reason}`);
  }
  return new UnauthenticatedError(
    'invalid_token',
    'access token is malformed or its signature does not verify',
  );
}
