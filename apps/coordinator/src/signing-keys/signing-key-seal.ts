import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;

export class SealError extends Error {
  override name = 'SealError';
}

/**
 * Seals a private JWK with AES-256-GCM under a key derived from the coordinator secret
 * (`deriveKey(secret, 'signing-key-seal')`). The key's `kid` is the additional authenticated data, so a sealed
 * key copied onto another row does not open. Format: `v1.<iv>.<ciphertext>.<tag>`, base64url parts.
 */
export function sealPrivateJwk(jwk: object, sealKey: Uint8Array, kid: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
  cipher.setAAD(Buffer.from(aad(kid)));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return [VERSION, iv, ct, cipher.getAuthTag()]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** Opens a sealed JWK; SealError when it was sealed under another secret or for another kid, or is damaged. */
export function unsealPrivateJwk(sealed: string, sealKey: Uint8Array, kid: string): Record<string, unknown> {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION)
    throw new SealError(`sealed key of ${kid} has an unknown format`);
  const [iv, ct, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey, iv);
    decipher.setAAD(Buffer.from(aad(kid)));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as Record<string, unknown>;
  } catch {
    throw new SealError(
      `cannot open the sealed private key of signing key ${kid}: the coordinator secret differs from the one it was sealed with, or the row was altered`,
    );
  }
}

function aad(kid: string): string {
  return `casam-signing-key:${kid}`;
}
