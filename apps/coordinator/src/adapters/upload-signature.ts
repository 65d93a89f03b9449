import { decodeProtectedHeader, errors, importJWK, type JWK, jwtVerify } from 'jose';
import { ADAPTER_UPLOAD_AUDIENCE, type AdapterUploadClaims, SITE_KEY_ALGORITHM } from '@casam/protocol';
import { CLOCK_TOLERANCE_SECONDS } from '../auth/access-token.service';

/** The `kid` of a completion signature, or the problems that keep it from being one. */
export function uploadSignatureKeyId(jws: string): { kid: string } | { problems: string[] } {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    return { problems: ['signature is not a compact JWS'] };
  }
  const problems: string[] = [];
  if (header.alg !== SITE_KEY_ALGORITHM)
    problems.push(`signature alg must be ${SITE_KEY_ALGORITHM}, got ${JSON.stringify(header.alg ?? null)}`);
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 100)
    problems.push("signature header needs kid = the site key's fingerprint");
  return problems.length ? { problems } : { kid: header.kid as string };
}

/**
 * Checks that `jws` is an EdDSA signature by `publicJwk` over exactly `expected` with aud
 * {@link ADAPTER_UPLOAD_AUDIENCE} (and, when present, a valid `exp`/`nbf`). Returns every problem found; an
 * empty list means the site's key holder signed this upload.
 */
export async function uploadSignatureProblems(
  jws: string,
  publicJwk: JWK,
  expected: AdapterUploadClaims,
  now: Date,
): Promise<string[]> {
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(publicJwk, SITE_KEY_ALGORITHM);
    ({ payload } = await jwtVerify(jws, key, {
      algorithms: [SITE_KEY_ALGORITHM],
      audience: ADAPTER_UPLOAD_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: now,
    }));
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed)
      return ['the signature does not verify with the key its kid names'];
    if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'aud')
      return [`aud must be ${ADAPTER_UPLOAD_AUDIENCE}`];
    if (e instanceof errors.JWTExpired) return ['the signature has expired'];
    if (e instanceof errors.JOSEError) return [`the signature could not be verified: ${e.message}`];
    return ['the signature could not be verified'];
  }
  const problems: string[] = [];
  for (const k of ['uploadId', 'taskId', 'sha256', 'size'] as const)
    if (payload[k] !== expected[k])
      problems.push(
        `signed ${k} ${JSON.stringify(payload[k] ?? null)?.slice(0, 80)} is not this upload's ${JSON.stringify(expected[k])}`,
      );
  return problems;
}
