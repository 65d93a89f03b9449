import { ConflictError, InvalidInputError, NotFoundError } from '../common/domain-error';

export class SiteNameTakenError extends ConflictError {
  constructor(name: string) {
    super('site_name_taken', `a site named "${name}" already exists`);
  }
}

export class SiteNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('site_not_found', `no site ${id}`);
  }
}

export class SiteNotPendingError extends ConflictError {
  constructor(id: string, status: string) {
    super('site_not_pending', `site ${id} is ${status}; only a pending site can be approved or rejected`, {
      status,
    });
  }
}

export class SiteNotRevocableError extends ConflictError {
  constructor(id: string, status: string) {
    super('site_not_revocable', `site ${id} is ${status}; only an approved site can be revoked`, { status });
  }
}

export class SiteNotApprovedForRotationError extends ConflictError {
  constructor(id: string, status: string) {
    super(
      'site_not_approved',
      `site ${id} is ${status}; only an approved site can be asked to rotate its key`,
      { status },
    );
  }
}

export class FingerprintMismatchError extends ConflictError {
  constructor() {
    super(
      'fingerprint_mismatch',
      "the fingerprint you verified is not the site's registered key: do not approve; check with the hospital",
    );
  }
}

export class KeyAlreadyRegisteredError extends ConflictError {
  constructor(fingerprint: string) {
    super('key_already_registered', `a site key with fingerprint ${fingerprint} is already registered`);
  }
}

export class SiteKeyNotFoundError extends NotFoundError {
  constructor(siteId: string, keyId: string) {
    super('site_key_not_found', `site ${siteId} has no key ${keyId}`);
  }
}

export class KeyAlreadyRevokedError extends ConflictError {
  constructor(keyId: string) {
    super('key_already_revoked', `site key ${keyId} is already revoked`);
  }
}

export class KeyNotActiveError extends ConflictError {
  constructor() {
    super(
      'key_not_active',
      "only a token obtained with the site's active key may rotate keys (this one was obtained with a rotated key, or a concurrent rotation won)",
    );
  }
}

/** The site's JWK is a private key (it has `d`): it never leaves the site. Refused before it is stored anywhere. */
export class PrivateKeySentError extends InvalidInputError {
  constructor() {
    super(
      'private_key_sent',
      'the JWK contains a private key ("d"); send only the public part — and treat this key as leaked: generate a new one',
    );
  }
}

export class UnsupportedKeyError extends InvalidInputError {
  constructor(what: string) {
    super('unsupported_key', `only Ed25519 public keys (kty "OKP", crv "Ed25519") are accepted, got ${what}`);
  }
}

export class InvalidKeyError extends InvalidInputError {
  constructor(reason: string) {
    super('invalid_key', `invalid public JWK: ${reason}`);
  }
}
