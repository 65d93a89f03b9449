import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseSitePublicJwk } from './public-jwk';

describe('parseSitePublicJwk', () => {
  it('keeps only kty, crv and x of an Ed25519 public key and fingerprints it per RFC 7638', async () => {
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(publicKey);
    const parsed = await parseSitePublicJwk({ ...jwk, kid: 'mine', use: 'sig', alg: 'EdDSA' });
    expect(parsed.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
    expect(parsed.fingerprint).toBe(await calculateJwkThumbprint(jwk));
    expect(parsed.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('matches the RFC 8037 appendix A.3 thumbprint', async () => {
    const parsed = await parseSitePublicJwk({
      kty: 'OKP',
      crv: 'Ed25519',
      x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
    });
    expect(parsed.fingerprint).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('refuses private parts before anything else, other key types, and malformed keys', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const codes = async (input: unknown) =>
      parseSitePublicJwk(input).then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    expect(await codes(await exportJWK(privateKey))).toBe('private_key_sent');
    expect(await codes({ kty: 'oct', k: 'c2VjcmV0' })).toBe('private_key_sent');
    expect(await codes({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' })).toBe('unsupported_key');
    expect(await codes({ kty: 'OKP', crv: 'Ed448', x: 'a' })).toBe('unsupported_key');
    expect(await codes({ kty: 'OKP', crv: 'Ed25519', x: 'a', alg: 'RS256' })).toBe('unsupported_key');
    expect(await codes({ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31).toString('base64url') })).toBe(
      'invalid_key',
    );
    expect(await codes({ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(32).toString('base64') + '==' })).toBe(
      'invalid_key',
    );
    expect(await codes(null)).toBe('invalid_key');
    expect(await codes([1])).toBe('invalid_key');
  });
});
