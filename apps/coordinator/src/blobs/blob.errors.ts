import { DomainError, InvalidInputError, NotFoundError } from '../common/domain-error';

export class InvalidBlobHashError extends InvalidInputError {
  constructor(hash: string) {
    super('invalid_blob_hash', `not a sha256 hash (64 lower-case hex digits): "${hash.slice(0, 80)}"`);
  }
}

export class BlobNotFoundError extends NotFoundError {
  constructor(readonly hash: string) {
    super('blob_not_found', `no blob ${hash}`);
  }
}

/** The bytes offered do not hash to what the caller declared; nothing was stored. */
export class BlobHashMismatchError extends InvalidInputError {
  constructor(expected: string, actual: string) {
    super('blob_hash_mismatch', `content hashes to ${actual}, not the declared ${expected}`, {
      expected,
      actual,
    });
  }
}

/** The bytes offered exceed the caller's limit; nothing was stored. */
export class BlobTooLargeError extends DomainError {
  constructor(limit: number) {
    super('blob_too_large', `content exceeds ${limit} bytes`, 413, { limit });
  }
}

/** Stored bytes no longer hash to their name: disk or database corruption. Never served. */
export class BlobCorruptedError extends DomainError {
  constructor(hash: string, detail: string) {
    super('blob_corrupted', `stored blob ${hash} is corrupted (${detail})`, 500);
  }
}

export class BlobRangeError extends DomainError {
  constructor(size: number) {
    super('range_not_satisfiable', `range outside the blob's ${size} bytes`, 416, { size });
  }
}
