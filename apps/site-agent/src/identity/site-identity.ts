import { generateKeyPairSync, createPrivateKey, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { calculateJwkThumbprint, SignJWT } from 'jose';
import {
  KEY_ROTATION_AUDIENCE,
  MAX_ASSERTION_LIFETIME_SECONDS,
  SITE_TOKEN_AUDIENCE,
  type SitePublicJwk,
} from '@casam/protocol';
import { writeFileAtomic } from '@casam/casam-core';

/** A site key file that cannot be used: missing, unreadable, world-readable, or not an Ed25519 private JWK. */
export class SiteKeyError extends Error {
  override name = 'SiteKeyError';
}

interface PrivateJwkFile {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
}

/**
 * The site's Ed25519 key pair. The private half lives in one file (mode 0600, a private JWK) and never leaves
 * the process: only the public JWK, its thumbprint and signatures made with it are ever sent.
 */
export class SiteIdentity {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicJwk: SitePublicJwk,
    /** RFC 7638 thumbprint (sha256, base64url): the `kid` of every assertion, what the admin verifies. */
    readonly fingerprint: string,
  ) {}

  /** Generates a new key pair and writes the private key to `file` (refusing to overwrite an existing one). */
  static async generate(file: string): Promise<SiteIdentity> {
    if (existsSync(file))
      throw new SiteKeyError(`${file} already exists; refusing to overwrite a site key (move it away first)`);
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' }) as unknown as PrivateJwkFile;
    writeFileAtomic(
      file,
      JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, null, 2) + '\n',
      0o600,
    );
    return SiteIdentity.load(file);
  }

  /** Loads the key; refuses a file that others may read (it would let them impersonate the site). */
  static async load(file: string): Promise<SiteIdentity> {
    let text: string;
    try {
      const st = statSync(file);
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
        throw new SiteKeyError(
          `${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
        );
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof SiteKeyError) throw e;
      throw new SiteKeyError(
        `cannot read the site key ${file}: ${(e as Error).message} (run site-agent init)`,
      );
    }
    let jwk: PrivateJwkFile;
    try {
      jwk = JSON.parse(text) as PrivateJwkFile;
    } catch {
      throw new SiteKeyError(`${file} is not JSON; it should hold the site's private Ed25519 JWK`);
    }
    if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string')
      throw new SiteKeyError(`${file} is not an Ed25519 private JWK (kty OKP, crv Ed25519, x, d)`);
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
    } catch (e) {
      throw new SiteKeyError(`${file} holds a malformed key: ${(e as Error).message}`);
    }
    const publicJwk: SitePublicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
    return new SiteIdentity(key, publicJwk, await calculateJwkThumbprint(publicJwk, 'sha256'));
  }

  /**
   * A private-key JWT for `POST /api/v1/auth/site-token`: `{iss, sub: siteId, aud, jti, iat, exp}`, kid = the
   * fingerprint, fresh jti each time, 120 s lifetime.
   */
  async siteAssertion(siteId: string, now: Date = new Date(), lifetimeSeconds = 120): Promise<string> {
    return this.sign({ iss: siteId }, siteId, SITE_TOKEN_AUDIENCE, now, lifetimeSeconds, true);
  }

  /** Proof of possession of this (new) key for `POST /api/v1/sites/me/keys`. */
  async rotationProof(siteId: string, now: Date = new Date()): Promise<string> {
    return this.sign({}, siteId, KEY_ROTATION_AUDIENCE, now, 120, false);
  }

  /** A compact JWS (EdDSA, kid) over an arbitrary claim set, e.g. an upload's `{uploadId, taskId, sha256, size}`. */
  async signClaims(
    claims: Record<string, unknown>,
    audience: string,
    subject: string,
    now: Date = new Date(),
  ): Promise<string> {
    return this.sign(claims, subject, audience, now, 300, true);
  }

  private async sign(
    claims: Record<string, unknown>,
    sub: string,
    aud: string,
    now: Date,
    lifetime: number,
    withKid: boolean,
  ): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader(withKid ? { alg: 'EdDSA', kid: this.fingerprint } : { alg: 'EdDSA' })
      .setSubject(sub)
      .setAudience(aud)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.min(lifetime, MAX_ASSERTION_LIFETIME_SECONDS))
      .sign(this.privateKey);
  }
}
