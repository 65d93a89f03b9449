import { calculateJwkThumbprint, importJWK } from 'jose';
import type { SitePublicJwk } from '@casam/protocol';
import { InvalidKeyError, PrivateKeySentError, UnsupportedKeyError } from './site.errors';

/** Private members of any JWK type (RFC 7517/7518/8037): none of them may ever arrive here. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface ParsedSiteKey {
  /** Normalised to exactly `{kty, crv, x}`: nothing else the client sent is stored. */
  publicJwk: SitePublicJwk;
  /** RFC 7638 thumbprint (sha256, base64url): the fingerprint and the assertions' `kid`. */
  fingerprint: string;
}

/**
 * Checks that `input` is a public Ed25519 JWK and computes its fingerprint. A private part is refused first,
 * whatever the key type, so the error says what matters most.
 */
export async function parseSitePublicJwk(input: unknown): Promise<ParsedSiteKey> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidKeyError('publicJwk must be a JSON object');
  const raw = input as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in raw)) throw new PrivateKeySentError();
  if (raw.kty !== 'OKP') throw new UnsupportedKeyError(`kty ${JSON.stringify(raw.kty ?? null)}`);
  if (raw.crv !== 'Ed25519') throw new UnsupportedKeyError(`OKP curve ${JSON.stringify(raw.crv ?? null)}`);
  if (raw.alg !== undefined && raw.alg !== 'EdDSA' && raw.alg !== 'Ed25519')
    throw new UnsupportedKeyError(`alg ${JSON.stringify(raw.alg)}`);
  if (typeof raw.x !== 'string' || !BASE64URL.test(raw.x))
    throw new InvalidKeyError('x must be the public key in base64url');
  if (Buffer.from(raw.x, 'base64url').length !== 32 || raw.x.length !== 43)
    throw new InvalidKeyError('x must encode exactly 32 bytes (43 base64url characters)');
  const jwk: SitePublicJwk = { kty: 'OKP', crv: 'Ed25519', x: raw.x };
  try {
    await importJWK(jwk, 'EdDSA');
  } catch (e) {
    throw new InvalidKeyError(`it does not import as an Ed25519 key (${(e as Error).message})`);
  }
  return { publicJwk: jwk, fingerprint: await calculateJwkThumbprint(jwk, 'sha256') };
}
