import { decodeProtectedHeader, errors, importJWK, type JWK, jwtVerify } from 'jose';
import {
  MAX_ASSERTION_JTI_LENGTH,
  MAX_ASSERTION_LIFETIME_SECONDS,
  SITE_KEY_ALGORITHM,
} from '@casam/protocol';
import { CLOCK_TOLERANCE_SECONDS } from '../auth/access-token.service';
import { DomainError } from '../common/domain-error';

/**
 * What is being verified: a site's assertion (exchanged for an access token; refusals are 401 `assertion_*`)
 * or a key-rotation proof (sent by an authenticated site; refusals are 400 `proof_*`).
 */
export type SignedAssertionKind = 'assertion' | 'proof';

export class SignedAssertionError extends DomainError {
  constructor(
    kind: SignedAssertionKind,
    problem: 'invalid' | 'expired' | 'wrong_audience' | 'replayed',
    message: string,
    /** True when the signature checked out and only the claims were refused: the signer is known. */
    readonly signatureVerified = false,
  ) {
    super(
      `${kind}_${problem}`,
      `${kind === 'assertion' ? 'site assertion' : 'key-rotation proof'}: ${message}`,
      kind === 'assertion' ? 401 : 400,
    );
  }
}

export interface VerifiedAssertion {
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export interface AssertionExpectations {
  kind: SignedAssertionKind;
  audience: string;
  subject: string;
  /** Required `iss`, when the format has one (site assertions: the site id). */
  issuer?: string;
  now: Date;
}

/** The `kid` in a compact JWS header, checking it is an EdDSA JWS at all. */
export function assertionKeyId(kind: SignedAssertionKind, jws: string): string {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new SignedAssertionError(kind, 'invalid', 'not a compact JWS');
  }
  if (header.alg !== SITE_KEY_ALGORITHM)
    throw new SignedAssertionError(
      kind,
      'invalid',
      `alg must be ${SITE_KEY_ALGORITHM}, got ${String(header.alg)}`,
    );
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 100)
    throw new SignedAssertionError(kind, 'invalid', 'the header needs kid = the key fingerprint');
  return header.kid;
}

/**
 * Verifies a site-signed JWT (RFC 7523 style): EdDSA signature by `publicJwk`, `aud`, `sub` (and `iss`), `exp`
 * and `iat` with {@link CLOCK_TOLERANCE_SECONDS} of clock skew, at most 300 s of lifetime and a `jti`.
 * Replays are the caller's business (the jti must be recorded once it is accepted).
 */
export async function verifySignedAssertion(
  jws: string,
  publicJwk: JWK,
  expect: AssertionExpectations,
): Promise<VerifiedAssertion> {
  const { kind } = expect;
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(publicJwk, SITE_KEY_ALGORITHM);
    ({ payload } = await jwtVerify(jws, key, {
      algorithms: [SITE_KEY_ALGORITHM],
      audience: expect.audience,
      subject: expect.subject,
      ...(expect.issuer !== undefined ? { issuer: expect.issuer } : {}),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: expect.now,
      // Also refuses an iat in the future (beyond the tolerance).
      maxTokenAge: MAX_ASSERTION_LIFETIME_SECONDS,
      requiredClaims: ['sub', 'aud', 'jti', 'iat', 'exp', ...(expect.issuer !== undefined ? ['iss'] : [])],
    }));
  } catch (e) {
    throw mapJoseError(kind, e);
  }
  const { jti, iat, exp } = payload as { jti: unknown; iat: number; exp: number };
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_ASSERTION_JTI_LENGTH)
    throw new SignedAssertionError(
      kind,
      'invalid',
      `jti must be a string of 1 to ${MAX_ASSERTION_JTI_LENGTH} characters`,
      true,
    );
  if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS)
    throw new SignedAssertionError(
      kind,
      'invalid',
      `lifetime exp − iat is ${exp - iat} s; at most ${MAX_ASSERTION_LIFETIME_SECONDS} s is accepted`,
      true,
    );
  return { jti, iat, exp };
}

function mapJoseError(kind: SignedAssertionKind, e: unknown): DomainError {
  // jose checks claims only after the signature verified: those failures know who signed.
  if (e instanceof errors.JWTExpired)
    return new SignedAssertionError(kind, 'expired', `it has expired (${e.message})`, true);
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud')
      return new SignedAssertionError(
        kind,
        'wrong_audience',
        `aud must be the coordinator's ${kind === 'assertion' ? 'site-token' : 'key-rotation'} audience`,
        true,
      );
    if (e.claim === 'iss' || e.claim === 'sub')
      return new SignedAssertionError(
        kind,
        'invalid',
        `${e.claim} does not name the site this key belongs to`,
        true,
      );
    return new SignedAssertionError(kind, 'invalid', `claim ${e.claim}: ${e.message}`, true);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return new SignedAssertionError(kind, 'invalid', 'the signature does not verify with the registered key');
  if (e instanceof errors.JOSEError) return new SignedAssertionError(kind, 'invalid', e.message);
  return new SignedAssertionError(kind, 'invalid', 'it could not be verified');
}
