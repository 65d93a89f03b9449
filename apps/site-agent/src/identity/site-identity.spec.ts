import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { SITE_TOKEN_AUDIENCE } from '@casam/protocol';
import { SiteIdentity } from './site-identity';

const dir = mkdtempSync(join(tmpdir(), 'casam-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SiteIdentity', () => {
  it('generates an Ed25519 key whose private file only the owner can read, and never overwrites it', async () => {
    const file = join(dir, 'a.jwk');
    const id = await SiteIdentity.generate(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(id.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(JSON.stringify(id.publicJwk)).not.toContain('"d"');
    expect(id.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expect(SiteIdentity.generate(file)).rejects.toThrow(/refusing to overwrite/);
    expect((await SiteIdentity.load(file)).fingerprint).toBe(id.fingerprint);
  });

  it('signs assertions the coordinator can verify with the public JWK alone', async () => {
    const id = await SiteIdentity.generate(join(dir, 'b.jwk'));
    const now = new Date();
    const jws = await id.siteAssertion('site-1', now);
    expect(decodeProtectedHeader(jws)).toEqual({ alg: 'EdDSA', kid: id.fingerprint });
    const { payload } = await jwtVerify(jws, await importJWK(id.publicJwk, 'EdDSA'), {
      audience: SITE_TOKEN_AUDIENCE,
    });
    expect(payload).toMatchObject({ iss: 'site-1', sub: 'site-1' });
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(await id.siteAssertion('site-1', now)).not.toBe(jws); // fresh jti every time
  });

  it('refuses a key file others can read, or one that is not an Ed25519 private JWK', async () => {
    const file = join(dir, 'c.jwk');
    await SiteIdentity.generate(file);
    chmodSync(file, 0o644);
    await expect(SiteIdentity.load(file)).rejects.toThrow(/readable by other users .* chmod 600/);
    const pub = join(dir, 'd.jwk');
    writeFileSync(pub, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), d: undefined }), {
      mode: 0o600,
    });
    await expect(SiteIdentity.load(pub)).rejects.toThrow(/not an Ed25519 private JWK/);
    await expect(SiteIdentity.load(join(dir, 'missing.jwk'))).rejects.toThrow(/run site-agent init/);
  });
});
