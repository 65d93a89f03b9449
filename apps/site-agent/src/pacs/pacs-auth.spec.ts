import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PacsAuthError, resolvePacsAuth } from './pacs-auth';

describe('resolvePacsAuth', () => {
  it('takes a header as given, basic credentials from a file or a named variable', () => {
    expect(resolvePacsAuth({ header: 'Bearer abc.def' })).toBe('Bearer abc.def');
    const file = join(mkdtempSync(join(tmpdir(), 'pacs-auth-')), 'cred');
    writeFileSync(file, 'reader:s3cret\n');
    const basic = `Basic ${Buffer.from('reader:s3cret').toString('base64')}`;
    expect(resolvePacsAuth({ basicFile: file })).toBe(basic);
    expect(resolvePacsAuth({ basicEnv: 'PACS_CRED' }, { PACS_CRED: 'reader:s3cret' })).toBe(basic);
    expect(resolvePacsAuth({})).toBeUndefined();
  });

  it('refuses malformed or ambiguous credentials without repeating the secret', () => {
    const attempts = [
      () => resolvePacsAuth({ header: 'token-without-scheme' }),
      () => resolvePacsAuth({ basicEnv: 'PACS_CRED' }, { PACS_CRED: 'no-colon-secret' }),
      () => resolvePacsAuth({ basicEnv: 'MISSING' }, {}),
      () => resolvePacsAuth({ header: 'Bearer x', basicEnv: 'PACS_CRED' }),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(PacsAuthError);
      try {
        attempt();
      } catch (e) {
        expect((e as Error).message).not.toMatch(/secret|token-without/);
      }
    }
  });
});
