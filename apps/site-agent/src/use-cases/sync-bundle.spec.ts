import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enrolledTestSite, initTestHome, coordinatorForSuite } from '../testing/coordinator-site.testing';
import { installTestBundle, TEST_BASE_FINGERPRINT, testSigner } from '../testing/signed-bundle.testing';
import { bundleInUse, rollBackBundle, syncBundle } from './sync-bundle';
import { SiteNotEnrolledError } from './use-case-errors';

describe('syncBundle against a real coordinator process', () => {
  const { coord, dir } = coordinatorForSuite('casam-sync-use-case-');

  it('asks for the newest bundle, finds none published, and records the sync', async () => {
    const ctx = await enrolledTestSite(coord(), join(dir, 'site'), 'Sync site');
    const pinned = ctx.home.readState().coordinatorKeys;
    expect(ctx.home.readState().lastSyncAt).toBeUndefined();
    expect(await syncBundle(ctx, () => undefined)).toEqual({ kind: 'none-published' });
    expect(Date.parse(ctx.home.readState().lastSyncAt!)).toBeGreaterThan(Date.now() - 60_000);
    expect(ctx.home.readState().coordinatorKeys).toEqual(pinned);
    expect(bundleInUse(ctx.home)).toBeNull();
  });

  it('refuses a site that is not enrolled without asking the coordinator', async () => {
    const ctx = await initTestHome(join(dir, 'not-enrolled'), coord().url, 'Not enrolled');
    await expect(syncBundle(ctx, () => undefined)).rejects.toBeInstanceOf(SiteNotEnrolledError);
    expect(ctx.home.readState().lastSyncAt).toBeUndefined();
  });
});

describe('rollBackBundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-rollback-use-case-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('swaps the current and the previous bundle, and refuses when there is no previous one', async () => {
    const ctx = await initTestHome(join(dir, 'site'), 'http://127.0.0.1:9', 'Rollback site');
    expect(() => rollBackBundle(ctx.home)).toThrow(/no previous bundle/);
    const signer = await testSigner();
    await installTestBundle(ctx.home, 1, signer, { base: TEST_BASE_FINGERPRINT, tau: 1 });
    expect(() => rollBackBundle(ctx.home)).toThrow(/no previous bundle/);
    await installTestBundle(ctx.home, 2, signer, { base: TEST_BASE_FINGERPRINT, tau: 2 });
    const r = rollBackBundle(ctx.home);
    expect([r.from?.version, r.to.version]).toEqual([2, 1]);
    expect(bundleInUse(ctx.home)?.version).toBe(1);
    expect(rollBackBundle(ctx.home).to.version).toBe(2);
  });
});
