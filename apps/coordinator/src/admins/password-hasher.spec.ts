import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_PARAMS, PasswordHasher } from './password-hasher';

const fast = new PasswordHasher({ ...DEFAULT_SCRYPT_PARAMS, ln: 10 });

describe('PasswordHasher', () => {
  it('writes PHC-format scrypt hashes with a random salt', async () => {
    const a = await fast.hash('correct horse battery staple');
    const b = await fast.hash('correct horse battery staple');
    expect(a).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
  });

  it('verifies the right password only', async () => {
    const h = await fast.hash('correct horse battery staple');
    expect(await fast.verify('correct horse battery staple', h)).toBe(true);
    expect(await fast.verify('correct horse battery stapler', h)).toBe(false);
    expect(await fast.verify('', h)).toBe(false);
  });

  it('treats visually equal Unicode spellings as the same password', async () => {
    const h = await fast.hash('caf\u00e9-passphrase!');
    expect(await fast.verify('cafe\u0301-passphrase!', h)).toBe(true);
  });

  it('refuses malformed or foreign hashes instead of throwing', async () => {
    for (const bad of ['', 'plain', '$2b$10$abcdefghijklmnopqrstuv', '$scrypt$ln=99,r=8,p=1$AAAA$AAAA'])
      expect(await fast.verify('x', bad)).toBe(false);
  });

  it('uses the documented defaults and says when an old hash needs upgrading', async () => {
    const strong = new PasswordHasher();
    const h = await strong.hash('a long enough passphrase');
    expect(h.startsWith('$scrypt$ln=15,r=8,p=1$')).toBe(true);
    expect(await strong.verify('a long enough passphrase', h)).toBe(true);
    expect(strong.needsRehash(h)).toBe(false);
    expect(strong.needsRehash(await fast.hash('x'))).toBe(true);
  });
});
