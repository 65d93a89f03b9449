import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoordinatorError } from '../coordinator/coordinator-client';
import { enrollmentToken, initTestHome, coordinatorForSuite } from '../testing/coordinator-site.testing';
import { enrollmentDecision, enrollSite } from './enroll-site';

describe('enrollSite and enrollmentDecision against a real coordinator process', () => {
  const { coord, dir } = coordinatorForSuite('casam-enroll-use-case-');

  it('enrolls with the token, pins the signing keys, and follows the admin from pending to approved to revoked', async () => {
    const ctx = await initTestHome(join(dir, 'site'), coord().url, 'Enroll site');
    let asked = 0;
    const bad = await enrollSite(ctx, async () => {
      asked++;
      return 'cset_' + 'x'.repeat(43);
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CoordinatorError);
    expect((bad as CoordinatorError).code).toBe('enrollment_token_invalid');
    expect(ctx.home.readState().siteId).toBeUndefined();

    const r = await enrollSite(ctx, async () => {
      asked++;
      return enrollmentToken(coord());
    });
    expect(asked).toBe(2);
    expect(r).toMatchObject({ kind: 'enrolled' });
    if (r.kind !== 'enrolled') return;
    expect(r.pinnedKeys).toBeGreaterThan(0);
    const state = ctx.home.readState();
    expect(state.siteId).toBe(r.siteId);
    expect(state.enrollment).toMatchObject({ status: 'pending', keyFingerprint: ctx.identity.fingerprint });
    expect(state.coordinatorKeys).toHaveLength(r.pinnedKeys);

    const waits: number[] = [];
    expect(await enrollmentDecision(ctx, 0, (s) => waits.push(s))).toBe('pending');
    expect(waits).toEqual([]); // asked once, no pause
    await coord().admin('POST', `/api/v1/sites/${r.siteId}/approve`, {
      keyFingerprint: ctx.identity.fingerprint,
    });
    expect(await enrollmentDecision(ctx, 5, (s) => waits.push(s))).toBe('approved');
    expect(ctx.home.readState().enrollment?.status).toBe('approved');

    // Enrolled already: the token is not asked for again.
    expect(await enrollSite(ctx, () => Promise.reject(new Error('asked for a token')))).toEqual({
      kind: 'already-enrolled',
      siteId: r.siteId,
    });

    await coord().admin('POST', `/api/v1/sites/${r.siteId}/revoke`, { reason: 'test' });
    expect(await enrollmentDecision(ctx, 0)).toBe('revoked');
    expect(ctx.home.readState().enrollment?.status).toBe('revoked');
  });

  it('waits for a decision that has not come, telling once, and answers pending', async () => {
    const ctx = await initTestHome(join(dir, 'waiting'), coord().url, 'Waiting site');
    await enrollSite(ctx, () => enrollmentToken(coord()));
    const waits: number[] = [];
    const t0 = Date.now();
    expect(await enrollmentDecision(ctx, 1, (s) => waits.push(s))).toBe('pending');
    expect(waits).toEqual([1]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });
});
