import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';

/**
 * scrypt cost parameters. The defaults follow OWASP's password-storage guidance for scrypt: N = 2^15
 * (ln = 15), r = 8, p = 1, i.e. 32 MiB of memory and about 50–100 ms per hash on a server core; a 16-byte
 * random salt and a 32-byte key. They are stored with each hash, so raising them later only affects new
 * hashes (and `needsRehash` tells when to upgrade an old one at the next login).
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  r: number;
  p: number;
  keyLength: number;
  saltLength: number;
}

export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1, keyLength: 32, saltLength: 16 };
export const SCRYPT_PARAMS = Symbol('SCRYPT_PARAMS');

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * Hashes admin passwords with node:crypto scrypt, in the PHC string format
 * `$scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>`.
 */
@Injectable()
export class PasswordHasher {
  private readonly params: ScryptParams;

  constructor(@Optional() @Inject(SCRYPT_PARAMS) params?: ScryptParams) {
    this.params = params ?? DEFAULT_SCRYPT_PARAMS;
  }

  async hash(password: string): Promise<string> {
    const { ln, r, p, keyLength, saltLength } = this.params;
    const salt = randomBytes(saltLength);
    const key = await derive(password, salt, keyLength, ln, r, p);
    return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
  }

  /** False for a wrong password and for anything that is not a hash this class wrote. */
  async verify(password: string, stored: string): Promise<boolean> {
    const m = FORMAT.exec(stored);
    if (!m) return false;
    const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (ln < 1 || ln > 24 || r < 1 || p < 1) return false;
    const salt = Buffer.from(m[4], 'base64');
    const expected = Buffer.from(m[5], 'base64');
    if (expected.length < 16) return false;
    const actual = await derive(password, salt, expected.length, ln, r, p);
    return timingSafeEqual(actual, expected);
  }

  /** True when `stored` was made with weaker parameters than the current ones. */
  needsRehash(stored: string): boolean {
    const m = FORMAT.exec(stored);
    if (!m) return true;
    const { ln, r, p } = this.params;
    return Number(m[1]) < ln || Number(m[2]) < r || Number(m[3]) < p;
  }
}

function derive(
  password: string,
  salt: Buffer,
  keyLength: number,
  ln: number,
  r: number,
  p: number,
): Promise<Buffer> {
  const N = 2 ** ln;
  // scrypt needs 128·N·r bytes; allow twice that so Node's default 32 MiB cap never refuses the defaults.
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

function b64(b: Buffer): string {
  return b.toString('base64').replace(/=+$/, '');
}
