import { describe, expect, it } from 'vitest';
import { deriveKey } from '../auth/coordinator-secret';
import { SealError, sealPrivateJwk, unsealPrivateJwk } from './signing-key-seal';

const key = deriveKey(new Uint8Array(32).fill(1), 'signing-key-seal');
const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'pub', d: 'secret-part' };

describe('signing key seal', () => {
  it('round-trips and never shows the private part in the sealed text', () => {
    const sealed = sealPrivateJwk(jwk, key, 'kid-1');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('secret-part');
    expect(unsealPrivateJwk(sealed, key, 'kid-1')).toEqual(jwk);
    expect(sealPrivateJwk(jwk, key, 'kid-1')).not.toBe(sealed); // fresh IV each time
  });

  it('refuses another secret, another kid and altered bytes', () => {
    const sealed = sealPrivateJwk(jwk, key, 'kid-1');
    const other = deriveKey(new Uint8Array(32).fill(2), 'signing-key-seal');
    expect(() => unsealPrivateJwk(sealed, other, 'kid-1')).toThrow(SealError);
    expect(() => unsealPrivateJwk(sealed, key, 'kid-2')).toThrow(/coordinator secret differs/);
    const parts = sealed.split('.');
    parts[2] = (parts[2][0] === 'A' ? 'B' : 'A') + parts[2].slice(1);
    expect(() => unsealPrivateJwk(parts.join('.'), key, 'kid-1')).toThrow(SealError);
    expect(() => unsealPrivateJwk('v9.a.b.c', key, 'kid-1')).toThrow(/unknown format/);
  });
});
