import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { SigningKey } from '@prisma/client';
import {
  CompactSign,
  calculateJwkThumbprint,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import {
  BUNDLE_JWS_ALGORITHM,
  KEY_ENDORSEMENT_JWS_TYPE,
  type KeyEndorsementClaims,
  type KeyEndorsements,
  type BundleJwks,
  type BundleSigningJwk,
  type RotateSigningKeyResponse,
  type SigningKeySummary,
} from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import { COORDINATOR_SECRET } from '../auth/auth.tokens';
import { deriveKey } from '../auth/coordinator-secret';
import { Clock } from '../common/clock';
import { ConflictError } from '../common/domain-error';
import { SigningKeyRepository } from './signing-key.repository';
import { unsealPrivateJwk, sealPrivateJwk } from './signing-key-seal';

/**
 * How long a key rotated in stays `pending` (published in the JWKS, not yet signing) before it becomes active
 * on its own. Sites refresh the JWKS at least daily and whenever a bundle names a kid they do not know, so a
 * day means every site knows the new key before the first bundle it signs.
 */
export const SIGNING_KEY_ACTIVATION_DELAY_MS = 24 * 60 * 60 * 1000;

/** Who rotates (an admin, or the coordinator itself); the audit trail takes address and correlation id from the request. */
export interface SigningKeyActor {
  adminId: string | null;
}

export interface SignedPayload {
  jws: string;
  kid: string;
  /** SigningKey row id (router bundles reference it). */
  keyId: string;
}

/**
 * The coordinator's Ed25519 bundle-signing keys: made at first start, rotated by admins (pending → active →
 * retired), published as a JWKS, private halves sealed in the database under the coordinator secret.
 */
@Injectable()
export class SigningKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger('SigningKeys');
  private readonly sealKey: Uint8Array;
  private readonly privateKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly repo: SigningKeyRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @Inject(COORDINATOR_SECRET) secret: Uint8Array,
  ) {
    this.sealKey = deriveKey(secret, 'signing-key-seal');
  }

  /** A coordinator that cannot open its own signing key must not start: it could never publish a bundle. */
  async onApplicationBootstrap(): Promise<void> {
    const key = await this.activeKey();
    await this.privateKey(key);
  }

  /** The key that signs now: activates a pending key whose delay has passed, creates the first key if none. */
  async activeKey(): Promise<SigningKey> {
    await this.activateDuePendingKey();
    const active = await this.repo.findActive();
    if (active) return active;
    const { key, created } = await this.repo.createActiveIfNone(await this.newKey());
    if (created) {
      this.logger.log(`created bundle-signing key ${key.kid}`);
      await this.record('signing_key.created', key, { adminId: null }, { status: 'active' });
    }
    return key;
  }

  /** Signs `payload` as a compact JWS (EdDSA) with the active key; `typ` goes in the protected header. */
  async sign(payload: Uint8Array, typ: string): Promise<SignedPayload> {
    const key = await this.activeKey();
    const jws = await new CompactSign(payload)
      .setProtectedHeader({ alg: BUNDLE_JWS_ALGORITHM, kid: key.kid, typ })
      .sign(await this.privateKey(key));
    return { jws, kid: key.kid, keyId: key.id };
  }

  /** Public keys sites accept: pending (about to sign), active, retired (signed older bundles). */
  async jwks(): Promise<BundleJwks> {
    const keys = await this.repo.list(['pending', 'active', 'retired']);
    return { keys: keys.map(publicJwkOf) };
  }

  /**
   * The chain of trust between successive signing keys: every key after the first, endorsed by its
   * predecessor in creation order (Ed25519 signatures are deterministic, so this is stable). A revoked key
   * endorses nothing and is endorsed by nothing: a chain through it is broken on purpose.
   */
  async endorsements(): Promise<KeyEndorsements> {
    const keys = (await this.repo.list(['pending', 'active', 'retired', 'revoked'])).sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.kid.localeCompare(b.kid),
    );
    const out: KeyEndorsements['endorsements'] = [];
    for (let i = 1; i < keys.length; i++) {
      const [prev, key] = [keys[i - 1], keys[i]];
      if (prev.status === 'revoked' || key.status === 'revoked' || !prev.privateJwkSealed) continue;
      const claims: KeyEndorsementClaims = { kid: key.kid, x: publicJwkOf(key).x, endorsedBy: prev.kid };
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: BUNDLE_JWS_ALGORITHM, kid: prev.kid, typ: KEY_ENDORSEMENT_JWS_TYPE })
        .sign(await this.privateKey(prev));
      out.push({ kid: key.kid, jws });
    }
    return { endorsements: out };
  }

  async list(): Promise<SigningKeySummary[]> {
    await this.activateDuePendingKey();
    return (await this.repo.list(['pending', 'active', 'retired', 'revoked'])).map(summaryOf);
  }

  /**
   * One step of a rotation: without a pending key, adds one (published now, active after the delay); with a
   * pending key, activates it now and retires the active key.
   */
  async rotate(actor: SigningKeyActor): Promise<RotateSigningKeyResponse> {
    await this.activeKey(); // a rotation always starts from a federation that has an active key
    const pending = await this.repo.findPending();
    if (pending) {
      const result = await this.repo.activate(pending.kid, this.clock.now());
      if (!result)
        throw new ConflictError(
          'signing_key_changed',
          `pending key ${pending.kid} was activated meanwhile by another request; list the keys and try again`,
        );
      await this.recordActivation(result.activated, result.retired, actor);
      return {
        action: 'activated',
        key: summaryOf(result.activated),
        retired: result.retired && summaryOf(result.retired),
      };
    }
    const { key, created } = await this.repo.createPendingIfNone(await this.newKey());
    if (created) await this.record('signing_key.created', key, actor, { status: 'pending' });
    return { action: 'created_pending', key: summaryOf(key), retired: null };
  }

  private async activateDuePendingKey(): Promise<void> {
    const pending = await this.repo.findPending();
    const now = this.clock.now();
    if (!pending || pending.createdAt.getTime() + SIGNING_KEY_ACTIVATION_DELAY_MS > now.getTime()) return;
    const result = await this.repo.activate(pending.kid, now);
    if (result) await this.recordActivation(result.activated, result.retired, { adminId: null });
  }

  private async recordActivation(activated: SigningKey, retired: SigningKey | null, actor: SigningKeyActor) {
    this.logger.log(`bundle-signing key ${activated.kid} active${retired ? `, ${retired.kid} retired` : ''}`);
    await this.record('signing_key.activated', activated, actor, { retiredKid: retired?.kid ?? null });
  }

  private async newKey() {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const { kty, crv, x } = publicJwk;
    return {
      kid,
      publicJwk: { kty: kty!, crv: crv!, x: x! },
      privateJwkSealed: sealPrivateJwk(await exportJWK(privateKey), this.sealKey, kid),
      createdAt: this.clock.now(),
    };
  }

  private privateKey(key: SigningKey): Promise<CryptoKey> {
    let p = this.privateKeys.get(key.kid);
    if (!p) {
      if (!key.privateJwkSealed)
        throw new Error(`signing key ${key.kid} has no private key in the database; it cannot sign`);
      const jwk = unsealPrivateJwk(key.privateJwkSealed, this.sealKey, key.kid) as JWK;
      p = importJWK({ ...jwk, alg: BUNDLE_JWS_ALGORITHM }, BUNDLE_JWS_ALGORITHM) as Promise<CryptoKey>;
      p.catch(() => this.privateKeys.delete(key.kid));
      this.privateKeys.set(key.kid, p);
    }
    return p;
  }

  private async record(
    action: string,
    key: SigningKey,
    actor: SigningKeyActor,
    details: Record<string, string | null>,
  ): Promise<void> {
    await this.audit.record({
      actorType: actor.adminId ? 'admin' : 'system',
      actorId: actor.adminId,
      action,
      targetType: 'signing_key',
      targetId: key.kid,
      details,
    });
  }
}

export function publicJwkOf(key: SigningKey): BundleSigningJwk {
  const jwk = key.publicJwk as { x: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: key.kid, alg: BUNDLE_JWS_ALGORITHM, use: 'sig' };
}

export function summaryOf(key: SigningKey): SigningKeySummary {
  return {
    kid: key.kid,
    status: key.status,
    createdAt: key.createdAt.toISOString(),
    activatedAt: key.activatedAt?.toISOString() ?? null,
    retiredAt: key.retiredAt?.toISOString() ?? null,
    activatesAt:
      key.status === 'pending'
        ? new Date(key.createdAt.getTime() + SIGNING_KEY_ACTIVATION_DELAY_MS).toISOString()
        : null,
  };
}
