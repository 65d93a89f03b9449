import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskStore } from '../tasks/local-task';
import { initTestHome, writeTestTask } from '../testing/coordinator-site.testing';
import { installTestBundle, TEST_BASE_FINGERPRINT, testSigner } from '../testing/signed-bundle.testing';
import { AGENT_VERSION } from '../version';
import { type AgentContext, openAgent } from './agent-context';
import { siteStatus } from './site-status';

// Against a coordinator: e2e/src/site-agent-enrollment.spec.ts and site-agent-token-status.spec.ts (the CLI).
describe('siteStatus of a home whose coordinator is not reached', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-status-use-case-'));
  let ctx: AgentContext;
  beforeAll(async () => {
    // Port 9 (discard): nothing listens there.
    ctx = await initTestHome(join(dir, 'site'), 'http://127.0.0.1:9', 'Status site');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a fresh home: not enrolled, no bundle, no task, nothing sent (and asks nobody)', async () => {
    const r = await siteStatus(ctx, { offline: false });
    expect(r).toEqual({
      agentVersion: AGENT_VERSION,
      home: ctx.home.dir,
      site: 'Status site',
      siteId: null,
      keyFingerprint: ctx.identity.fingerprint,
      enrollment: 'not enrolled',
      coordinator: { url: 'http://127.0.0.1:9', reachable: false },
      baseModel: { preset: 'casam-tiny', weights: ctx.home.weightsPath(ctx.config), present: true },
      backend: 'wasm',
      bundleDamage: null,
      bundle: null,
      previousBundle: null,
      lastSyncAt: null,
      tasks: [],
      pendingUploads: [],
      pinnedCoordinatorKeys: [],
      egress: {},
    });
    // The JSON key order `status --json` prints.
    expect(Object.keys(r)[0]).toBe('agentVersion');
    expect(Object.keys(r).at(-1)).toBe('egress');
  });

  it('reports what is stored: bundles, tasks as last known, pending uploads; the coordinator unreachable', async () => {
    const signer = await testSigner();
    await installTestBundle(ctx.home, 1, signer, { base: TEST_BASE_FINGERPRINT, tau: 1 });
    await installTestBundle(ctx.home, 2, signer, { base: TEST_BASE_FINGERPRINT, tau: 2 });
    ctx.home.updateState((s) => {
      s.siteId = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
      s.enrollment = {
        status: 'approved',
        keyFingerprint: ctx.identity.fingerprint,
        enrolledAt: '2026-12-01T00:00:00.000Z',
      };
      s.coordinatorKeys = [{ kid: signer.kid, x: signer.x }];
    });
    writeTestTask(ctx, 'liver');
    writeTestTask(ctx, 'spleen');
    new TaskStore(ctx.home).update('liver', (t) => {
      t.coordinator = { taskId: 't-1', status: 'approved', proposedAt: '2026-12-01T00:00:00.000Z' };
      t.training = { adapter: '/x', trainedAt: '2026-12-02T00:00:00.000Z', metrics: {}, tau: 1 };
      t.upload = { uploadId: 'u-1', sha256: 'ab' };
    });

    const offline = await siteStatus(ctx, { offline: true });
    expect(offline).toMatchObject({
      enrollment: 'approved',
      coordinator: { url: 'http://127.0.0.1:9', reachable: false },
      bundle: { version: 2, tasks: 1 },
      previousBundle: 1,
      pinnedCoordinatorKeys: [signer.kid],
      pendingUploads: ['liver'],
    });
    expect(offline.coordinator.error).toBeUndefined();
    expect(offline.tasks).toEqual([
      {
        name: 'liver',
        coordinatorTaskId: 't-1',
        coordinatorStatus: 'approved',
        statusCheckedAt: '2026-12-01T00:00:00.000Z',
        statusFresh: false,
        trained: true,
        upload: 'pending',
      },
      {
        name: 'spleen',
        coordinatorTaskId: null,
        coordinatorStatus: null,
        statusCheckedAt: null,
        statusFresh: false,
        trained: false,
        upload: 'none',
      },
    ]);

    // Opened again, as each `status` run opens the home: the client now has the site id.
    const online = await siteStatus(await openAgent(ctx.home.dir), { offline: false });
    expect(online.coordinator).toMatchObject({ reachable: false, error: expect.stringMatching(/reach/) });
    expect(online.enrollment).toBe('approved'); // as last known
    expect(online.tasks[0].statusFresh).toBe(false);
    expect(ctx.home.readState().enrollment?.checkedAt).toBeUndefined();
  }, 120_000);
});
