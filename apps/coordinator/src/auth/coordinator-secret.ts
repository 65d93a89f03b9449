import { hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makePrivateDir } from '../common/private-files';

export const SECRET_FILE = 'secret.key';
const MIN_SECRET_BYTES = 32;

export class SecretError extends Error {
  override name = 'SecretError';
}

/**
 * The coordinator's root secret: access tokens are signed with a key derived from it and the bundle-signing
 * private keys are sealed under it. Every replica must have the same one.
 *
 * `COORDINATOR_SECRET` (≥ 32 bytes as 64+ hex digits or base64) wins; otherwise `<dataDir>/secret.key` is
 * read, or created once with 32 random bytes (mode 0600) — fine for a single coordinator, not for replicas
 * that do not share the data directory.
 */
export function loadOrCreateSecret(
  env: string | undefined,
  dataDir: string,
): { secret: Buffer; source: string } {
  if (env !== undefined && env.trim() !== '') {
    const s = env.trim();
    const bytes =
      /^[0-9a-fA-F]+$/.test(s) && s.length % 2 === 0 ? Buffer.from(s, 'hex') : Buffer.from(s, 'base64');
    if (bytes.length < MIN_SECRET_BYTES)
      throw new SecretError(
        `COORDINATOR_SECRET must hold at least ${MIN_SECRET_BYTES} bytes (64 hex digits or 44 base64 characters); make one with: openssl rand -hex 32`,
      );
    return { secret: bytes, source: 'COORDINATOR_SECRET' };
  }
  const file = path.join(dataDir, SECRET_FILE);
  makePrivateDir(dataDir);
  try {
    fs.writeFileSync(file, randomBytes(MIN_SECRET_BYTES).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64,}$/.test(text))
    throw new SecretError(
      `${file} is not a hex secret of at least ${MIN_SECRET_BYTES} bytes; fix or delete it`,
    );
  return { secret: Buffer.from(text, 'hex'), source: file };
}

/** A purpose-bound 32-byte key derived from the root secret (HKDF-SHA256), so no two uses share a key. */
export function deriveKey(secret: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, Buffer.alloc(0), `casam-coordinator/${purpose}`, 32));
}
