import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from 'jose';
import {
  type AccessTokenResponse,
  type CreatedEnrollmentToken,
  type EnrollSiteResponse,
  KEY_ROTATION_AUDIENCE,
  SITE_TOKEN_AUDIENCE,
  type SitePublicJwk,
} from '@casam/protocol';
import { Clock } from '../src/common/clock';
import { startTestApp, type TestApp } from './test-app';
import type { TestBackend } from './test-database';

/** A clock tests can move (`offsetMs` is added to the real time) or stop (`freeze`). */
export class MovableClock extends Clock {
  offsetMs = 0;
  private frozenAt: number | null = null;
  override now(): Date {
    return new Date((this.frozenAt ?? Date.now()) + this.offsetMs);
  }
  /** Stops time at the current real time (offsets still apply); `undefined` lets it run again. */
  freeze(at: number | undefined = Date.now()): void {
    this.frozenAt = at ?? null;
  }
}

/** An Ed25519 key pair as a site agent holds it. */
export interface TestSiteKey {
  privateKey: CryptoKey;
  publicJwk: SitePublicJwk;
  fingerprint: string;
}

export async function newSiteKey(): Promise<TestSiteKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(publicKey);
  const publicJwk: SitePublicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string };
  return { privateKey, publicJwk, fingerprint: await calculateJwkThumbprint(publicJwk) };
}

export interface AssertionOptions {
  /** Seconds since the epoch; default now. */
  iat?: number;
  /** Lifetime in seconds; default 60. */
  lifetime?: number;
  jti?: string;
  aud?: string;
  iss?: string;
  sub?: string;
  /** Header kid; default the key's fingerprint. */
  kid?: string | null;
  /** Extra or overriding claims. */
  claims?: JWTPayload;
}

/** The assertion a site exchanges for an access token (see SiteTokenRequest in @casam/protocol). */
export function signSiteAssertion(
  key: TestSiteKey,
  siteId: string,
  o: AssertionOptions = {},
): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  const header = o.kid === null ? { alg: 'EdDSA' } : { alg: 'EdDSA', kid: o.kid ?? key.fingerprint };
  return new SignJWT({ ...o.claims })
    .setProtectedHeader(header)
    .setIssuer(o.iss ?? siteId)
    .setSubject(o.sub ?? siteId)
    .setAudience(o.aud ?? SITE_TOKEN_AUDIENCE)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.lifetime ?? 60))
    .sign(key.privateKey);
}

/** The proof of possession sent with a new key (signed by the NEW key). */
export function signRotationProof(
  newKey: TestSiteKey,
  siteId: string,
  o: AssertionOptions = {},
): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ ...o.claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: newKey.fingerprint })
    .setSubject(o.sub ?? siteId)
    .setAudience(o.aud ?? KEY_ROTATION_AUDIENCE)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.lifetime ?? 60))
    .sign(newKey.privateKey);
}

/** JSON over HTTP against a running app: `{status, body, headers}`, never throwing on an error status. */
export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  method: 'GET' | 'POST' | 'DELETE',
  route: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${baseUrl}${route}`, {
    method,
    headers: {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

export interface TestSite {
  siteId: string;
  key: TestSiteKey;
  /** A fresh access token (from a real assertion exchange). */
  accessToken: string;
}

/**
 * A site enrolled and approved through the real HTTP API (token, enrollment, approval with the fingerprint,
 * assertion exchange), for tests of anything a site does.
 */
export async function enrollApprovedSite(
  baseUrl: string,
  adminToken: string,
  siteName: string,
): Promise<TestSite> {
  const key = await newSiteKey();
  const site = await enrollSite(baseUrl, adminToken, siteName, key);
  const approved = await call(baseUrl, 'POST', `/api/v1/sites/${site.siteId}/approve`, {
    token: adminToken,
    body: { keyFingerprint: key.fingerprint },
  });
  if (approved.status !== 200) throw new Error(`approval failed: ${JSON.stringify(approved.body)}`);
  return { siteId: site.siteId, key, accessToken: await siteAccessToken(baseUrl, key, site.siteId) };
}

/** Creates an enrollment token and enrolls a pending site with `key`. */
export async function enrollSite(
  baseUrl: string,
  adminToken: string,
  siteName: string,
  key: TestSiteKey,
): Promise<EnrollSiteResponse> {
  const token = await call<CreatedEnrollmentToken>(baseUrl, 'POST', '/api/v1/enrollment-tokens', {
    token: adminToken,
    body: { label: siteName },
  });
  if (token.status !== 201) throw new Error(`token creation failed: ${JSON.stringify(token.body)}`);
  const enrolled = await call<EnrollSiteResponse>(baseUrl, 'POST', '/api/v1/sites/enroll', {
    body: { enrollmentToken: token.body.token, siteName, publicJwk: key.publicJwk },
  });
  if (enrolled.status !== 201) throw new Error(`enrollment failed: ${JSON.stringify(enrolled.body)}`);
  return enrolled.body;
}

export async function siteAccessToken(baseUrl: string, key: TestSiteKey, siteId: string): Promise<string> {
  const res = await call<AccessTokenResponse>(baseUrl, 'POST', '/api/v1/auth/site-token', {
    body: { assertion: await signSiteAssertion(key, siteId) },
  });
  if (res.status !== 200) throw new Error(`site-token exchange failed: ${JSON.stringify(res.body)}`);
  return res.body.accessToken;
}

/**
 * Like {@link startTestApp}, with the app's Clock replaced by `clock` (expiry, grace periods and rate-limit
 * refills without sleeping). Rate limits are effectively off unless `env` sets them.
 */
export function startTestAppWithClock(
  clock: MovableClock,
  backend: TestBackend = 'pglite',
  env: NodeJS.ProcessEnv = {},
): Promise<TestApp> {
  return startTestApp(backend, {
    clock,
    env: { COORDINATOR_AUTH_RATE_PER_MINUTE: '100000', COORDINATOR_AUTH_RATE_BURST: '100000', ...env },
  });
}
