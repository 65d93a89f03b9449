import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteSummary } from '@casam/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { SiteIdentity } from '../identity/site-identity';
import { enrolledTestSite, initTestHome, coordinatorForSuite } from '../testing/coordinator-site.testing';
import type { AgentContext } from './agent-context';
import { rotateKey } from './rotate-key';
import { SiteNotEnrolledError } from './use-case-errors';

describe('rotateKey against a real coordinator process', () => {
  let ctx: AgentContext & { siteId: string };
  const { coord, dir } = coordinatorForSuite('casam-rotate-use-case-');
  beforeAll(async () => {
    ctx = await enrolledTestSite(coord(), join(dir, 'site'), 'Rotate site');
  }, 120_000);

  const keys = async () =>
    (await coord().admin<SiteSummary>('GET', `/api/v1/sites/${ctx.siteId}`)).keys.map((k) => [
      k.fingerprint,
      k.status,
    ]);

  it('registers a new key, swaps it in, and the context signs with it from then on', async () => {
    const before = ctx.identity.fingerprint;
    const lines: string[] = [];
    const r = await rotateKey(ctx, (l) => lines.push(l));
    expect(r).toMatchObject({ previousFingerprint: before, resumed: false });
    expect(r.fingerprint).not.toBe(before);
    expect(r.previousNotAfter).toEqual(expect.any(String));
    expect(lines.join('\n')).toMatch(/generated a new site key[\s\S]*the coordinator registered/);
    expect(ctx.identity.fingerprint).toBe(r.fingerprint);
    expect((await SiteIdentity.load(ctx.home.keyFile)).fingerprint).toBe(r.fingerprint);
    expect((await SiteIdentity.load(ctx.home.previousKeyFile)).fingerprint).toBe(before);
    expect(existsSync(ctx.home.nextKeyFile)).toBe(false);
    expect(ctx.home.readState().enrollment?.keyFingerprint).toBe(r.fingerprint);
    expect(await keys()).toEqual([
      [r.fingerprint, 'active'],
      [before, 'rotated'],
    ]);
    // A fresh access token, signed with the new key.
    ctx.client.dropToken();
    await expect(ctx.client.accessToken()).resolves.toEqual(expect.any(String));
  });

  it('refuses a site that is not enrolled, before generating anything', async () => {
    const other = await initTestHome(join(dir, 'not-enrolled'), coord().url, 'Not enrolled');
    await expect(rotateKey(other, () => undefined)).rejects.toBeInstanceOf(SiteNotEnrolledError);
    expect(existsSync(other.home.nextKeyFile)).toBe(false);
  });
});
