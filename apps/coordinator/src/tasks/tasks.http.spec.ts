import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Api,
  apiFor,
  createTestSite,
  FINGERPRINT_A,
  FINGERPRINT_B,
  type TestSite,
} from '../../testing/upload.testing';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import { startTestApp, type TestApp } from '../../testing/test-app';

const proposal = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  modality: 'CT',
  targetStructures: ['liver'],
  baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A },
  ...over,
});

describe('tasks over HTTP (real app, embedded PGlite)', () => {
  let t: TestApp;
  let api: Api;
  let admin: string;
  let adminId: string;
  let viewer: string;
  let siteA: TestSite;
  let siteB: TestSite;
  const events: CoordinatorEvent[] = [];

  beforeAll(async () => {
    t = await startTestApp('pglite');
    api = apiFor(() => t.url);
    ({ token: admin, adminId } = await t.adminToken('admin'));
    viewer = (await t.adminToken('viewer')).token;
    siteA = await createTestSite(t, 'hospital-a');
    siteB = await createTestSite(t, 'hospital-b');
    t.app.get(CoordinatorEvents).on('task.status_changed', (e) => void events.push(e));
  });
  afterAll(async () => {
    await t?.close();
  });

  const propose = async (site: TestSite, name: string, over: Record<string, unknown> = {}) => {
    const r = await api('POST', '/api/v1/tasks', proposal(name, over), { token: site.token });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { id: string; status: string };
  };

  it('a site proposes a task; channels come from the preset table; the proposal is audited', async () => {
    const r = await api('POST', '/api/v1/tasks', proposal('liver-ct'), { token: siteA.token });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name: 'liver-ct',
      modality: 'CT',
      targetStructures: ['liver'],
      baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A },
      embeddingChannels: 64,
      status: 'proposed',
      proposedBySiteId: siteA.siteId,
      contributorSiteIds: [],
      statusReason: null,
    });
    const big = await propose(siteA, 'liver-vitb', {
      baseModel: { preset: 'vit_b', fingerprint: FINGERPRINT_A },
    });
    expect(big).toMatchObject({ embeddingChannels: 256 });
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'task.proposed', targetId: r.body.id },
    });
    expect(audit).toMatchObject({
      actorType: 'site',
      actorId: siteA.siteId,
      outcome: 'success',
      siteId: siteA.siteId,
    });
    expect(audit!.correlationId).toBe(r.headers.get('x-correlation-id'));
  });

  it('refuses bad proposals with stable codes and stores nothing', async () => {
    const before = await t.db.prisma.task.count();
    const cases: [unknown, number, string][] = [
      [{ ...proposal('x1'), extra: 1 }, 400, 'validation_failed'],
      [
        { ...proposal('x2'), baseModel: { preset: 'vit_b', fingerprint: FINGERPRINT_A, more: 1 } },
        400,
        'validation_failed',
      ],
      [proposal('x3', { baseModel: undefined }), 400, 'validation_failed'],
      [
        proposal('x4', { baseModel: { preset: 'vit_b', fingerprint: 'sha256:XYZ' } }),
        400,
        'validation_failed',
      ],
      [proposal('x5', { targetStructures: [] }), 400, 'validation_failed'],
      [proposal('x6', { targetStructures: ['ok', ''] }), 400, 'validation_failed'],
      [proposal('   '), 400, 'validation_failed'],
      [
        proposal('x7', { baseModel: { preset: 'vit_x', fingerprint: FINGERPRINT_A } }),
        400,
        'unknown_base_model_preset',
      ],
      [
        proposal('x8', { baseModel: { preset: 'toString', fingerprint: FINGERPRINT_A } }),
        400,
        'unknown_base_model_preset',
      ],
      ['{"name":', 400, 'bad_request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api('POST', '/api/v1/tasks', body, { token: siteA.token });
      expect([r.status, r.body?.error?.code], JSON.stringify(body)).toEqual([status, code]);
    }
    const bad = await api(
      'POST',
      '/api/v1/tasks',
      proposal('x7', { baseModel: { preset: 'vit_x', fingerprint: FINGERPRINT_A } }),
      {
        token: siteA.token,
      },
    );
    expect(bad.body.error.details.known).toContain('casam-tiny');
    expect(await t.db.prisma.task.count()).toBe(before);
    const denied = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'task.proposed', outcome: 'denied' },
    });
    expect(denied?.details).toMatchObject({ error: 'unknown_base_model_preset' });
  });

  it('refuses a second task of the same name from the same site, but not from another site', async () => {
    await propose(siteA, 'dup');
    const again = await api('POST', '/api/v1/tasks', proposal('dup'), { token: siteA.token });
    expect([again.status, again.body.error.code]).toEqual([409, 'task_name_taken']);
    await propose(siteB, 'dup');
  });

  it('only sites propose; admins decide; nobody without a token', async () => {
    expect((await api('POST', '/api/v1/tasks', proposal('by-admin'), { token: admin })).status).toBe(403);
    expect((await api('POST', '/api/v1/tasks', proposal('anon'))).status).toBe(401);
    const task = await propose(siteA, 'decide-me');
    for (const token of [viewer, siteA.token]) {
      const r = await api('POST', `/api/v1/tasks/${task.id}/approve`, {}, { token });
      expect([r.status, r.body.error.code]).toEqual([403, 'forbidden']);
    }
    expect((await api('GET', `/api/v1/tasks/${task.id}`)).status).toBe(401);
  });

  it('approve, reject and retire are compare-and-set transitions that emit task.status_changed and are audited', async () => {
    const a = await propose(siteA, 'cas-a');
    events.length = 0;
    const ok = await api('POST', `/api/v1/tasks/${a.id}/approve`, {}, { token: admin });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', statusReason: null });
    expect(ok.body.decidedById).toBeTruthy();
    expect(events).toEqual([
      { type: 'task.status_changed', taskId: a.id, status: 'approved', previous: 'proposed' },
    ]);

    const twice = await api('POST', `/api/v1/tasks/${a.id}/approve`, {}, { token: admin });
    expect([twice.status, twice.body.error.code, twice.body.error.details]).toEqual([
      409,
      'task_not_proposed',
      { status: 'approved' },
    ]);
    const rejectApproved = await api(
      'POST',
      `/api/v1/tasks/${a.id}/reject`,
      { reason: 'late' },
      { token: admin },
    );
    expect([rejectApproved.status, rejectApproved.body.error.code]).toEqual([409, 'task_not_proposed']);

    const noReason = await api('POST', `/api/v1/tasks/${a.id}/retire`, {}, { token: admin });
    expect([noReason.status, noReason.body.error.code]).toEqual([400, 'validation_failed']);
    const retired = await api(
      'POST',
      `/api/v1/tasks/${a.id}/retire`,
      { reason: 'superseded by v2' },
      { token: admin },
    );
    expect(retired.body).toMatchObject({ status: 'retired', statusReason: 'superseded by v2' });
    const retireAgain = await api('POST', `/api/v1/tasks/${a.id}/retire`, { reason: 'x' }, { token: admin });
    expect([retireAgain.status, retireAgain.body.error.code]).toEqual([409, 'task_not_approved']);

    const b = await propose(siteA, 'cas-b');
    const rejected = await api(
      'POST',
      `/api/v1/tasks/${b.id}/reject`,
      { reason: 'no labels' },
      { token: admin },
    );
    expect(rejected.body).toMatchObject({ status: 'rejected', statusReason: 'no labels' });
    expect(events.map((e) => (e as { status: string }).status)).toEqual(['approved', 'retired', 'rejected']);

    const audit = await t.db.prisma.auditEvent.findMany({
      where: {
        targetId: { in: [a.id, b.id] },
        action: { in: ['task.approved', 'task.retired', 'task.rejected'] },
      },
      orderBy: { createdAt: 'asc' },
    });
    expect(
      audit
        .filter((e) => e.outcome === 'success')
        .map((e) => [e.action, (e.details as { reason?: string }).reason]),
    ).toEqual([
      ['task.approved', undefined],
      ['task.retired', 'superseded by v2'],
      ['task.rejected', 'no labels'],
    ]);
    expect(audit.filter((e) => e.outcome === 'denied').length).toBeGreaterThanOrEqual(3);
    expect(audit.every((e) => e.actorType === 'admin' && e.actorId === adminId)).toBe(true);

    const unknown = await api(
      'POST',
      `/api/v1/tasks/00000000-0000-4000-8000-000000000000/approve`,
      {},
      { token: admin },
    );
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'task_not_found']);
    const badId = await api('POST', `/api/v1/tasks/not-a-uuid/approve`, {}, { token: admin });
    expect([badId.status, badId.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('one base model: approving a task for another fingerprint is refused while one is approved, allowed once it is retired', async () => {
    const a = await propose(siteA, 'fp-a');
    const b = await propose(siteB, 'fp-b', {
      baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_B },
    });
    expect((await api('POST', `/api/v1/tasks/${a.id}/approve`, {}, { token: admin })).status).toBe(200);
    const refused = await api('POST', `/api/v1/tasks/${b.id}/approve`, {}, { token: admin });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'base_model_mismatch']);
    expect(refused.body.error.details).toEqual({ expected: FINGERPRINT_A, got: FINGERPRINT_B });
    expect((await api('GET', `/api/v1/tasks/${b.id}`, undefined, { token: viewer })).body.status).toBe(
      'proposed',
    );
    // Retire every approved task of fingerprint A; then B may become the federation's base model.
    const approved = (await api('GET', '/api/v1/tasks?status=approved', undefined, { token: viewer }))
      .body as {
      id: string;
    }[];
    for (const task of approved)
      expect(
        (await api('POST', `/api/v1/tasks/${task.id}/retire`, { reason: 'new base model' }, { token: admin }))
          .status,
      ).toBe(200);
    expect((await api('POST', `/api/v1/tasks/${b.id}/approve`, {}, { token: admin })).status).toBe(200);
  });

  it('lists: viewers see every task and filter by status; a site sees its own, its contributions and approved ones', async () => {
    const own = await propose(siteB, 'vis-own');
    const foreign = await propose(siteA, 'vis-foreign');
    const all = await api('GET', '/api/v1/tasks', undefined, { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([own.id, foreign.id]));
    const proposed = await api('GET', '/api/v1/tasks?status=proposed', undefined, { token: viewer });
    expect(proposed.body.every((x: { status: string }) => x.status === 'proposed')).toBe(true);
    expect((await api('GET', '/api/v1/tasks?status=nope', undefined, { token: viewer })).status).toBe(400);

    const seen = async () =>
      (await api('GET', '/api/v1/tasks', undefined, { token: siteB.token })).body as {
        id: string;
        status: string;
        proposedBySiteId: string;
      }[];
    let list = await seen();
    expect(list.map((x) => x.id)).toContain(own.id);
    expect(list.map((x) => x.id)).not.toContain(foreign.id);
    expect(list.every((x) => x.status === 'approved' || x.proposedBySiteId === siteB.siteId)).toBe(true);
    const hidden = await api('GET', `/api/v1/tasks/${foreign.id}`, undefined, { token: siteB.token });
    expect([hidden.status, hidden.body.error.code]).toEqual([404, 'task_not_found']);

    expect(
      (
        await api(
          'POST',
          `/api/v1/tasks/${foreign.id}/contributors`,
          { siteId: siteB.siteId },
          { token: admin },
        )
      ).status,
    ).toBe(200);
    list = await seen();
    expect(list.map((x) => x.id)).toContain(foreign.id);
    expect((await api('GET', `/api/v1/tasks/${foreign.id}`, undefined, { token: siteB.token })).status).toBe(
      200,
    );
  });

  it('contributors: added and removed by admins, with clear errors', async () => {
    const task = await propose(siteA, 'contrib');
    const add = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteB.siteId },
      { token: admin },
    );
    expect(add.body.contributorSiteIds).toEqual([siteB.siteId]);
    const again = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteB.siteId },
      { token: admin },
    );
    expect([again.status, again.body.contributorSiteIds]).toEqual([200, [siteB.siteId]]);
    const proposer = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteA.siteId },
      { token: admin },
    );
    expect([proposer.status, proposer.body.error.code]).toEqual([409, 'contributor_is_proposer']);
    const ghost = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: '00000000-0000-4000-8000-000000000001' },
      { token: admin },
    );
    expect([ghost.status, ghost.body.error.code]).toEqual([404, 'site_not_found']);
    const extra = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteB.siteId, role: 'x' },
      { token: admin },
    );
    expect([extra.status, extra.body.error.code]).toEqual([400, 'validation_failed']);
    const bySite = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteB.siteId },
      { token: siteA.token },
    );
    expect(bySite.status).toBe(403);

    const del = await api('DELETE', `/api/v1/tasks/${task.id}/contributors/${siteB.siteId}`, undefined, {
      token: admin,
    });
    expect([del.status, del.body.contributorSiteIds]).toEqual([200, []]);
    const delAgain = await api('DELETE', `/api/v1/tasks/${task.id}/contributors/${siteB.siteId}`, undefined, {
      token: admin,
    });
    expect([delAgain.status, delAgain.body.error.code]).toEqual([404, 'task_contributor_not_found']);
    const audit = await t.db.prisma.auditEvent.findMany({
      where: { targetId: task.id, action: { startsWith: 'task.contributor' } },
    });
    expect(audit.map((e) => `${e.action}:${e.outcome}`).sort()).toEqual([
      'task.contributor_added:denied',
      'task.contributor_added:denied',
      'task.contributor_added:success',
      'task.contributor_added:success',
      'task.contributor_removed:denied',
      'task.contributor_removed:success',
    ]);

    await api('POST', `/api/v1/tasks/${task.id}/reject`, { reason: 'dup' }, { token: admin });
    const closed = await api(
      'POST',
      `/api/v1/tasks/${task.id}/contributors`,
      { siteId: siteB.siteId },
      { token: admin },
    );
    expect([closed.status, closed.body.error.code]).toEqual([409, 'task_closed']);
  });
});

describe('tasks with COORDINATOR_BASE_MODEL_FINGERPRINT set', () => {
  let t: TestApp;
  let api: Api;
  beforeAll(async () => {
    t = await startTestApp('pglite', { env: { COORDINATOR_BASE_MODEL_FINGERPRINT: FINGERPRINT_B } });
    api = apiFor(() => t.url);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a proposal for another base model at once, and accepts the configured one', async () => {
    const site = await createTestSite(t);
    const other = await api('POST', '/api/v1/tasks', proposal('other'), { token: site.token });
    expect([other.status, other.body.error.code]).toEqual([409, 'base_model_mismatch']);
    expect(other.body.error.details).toEqual({ expected: FINGERPRINT_B, got: FINGERPRINT_A });
    const same = await api(
      'POST',
      '/api/v1/tasks',
      proposal('same', { baseModel: { preset: 'vit_h', fingerprint: FINGERPRINT_B } }),
      {
        token: site.token,
      },
    );
    expect(same.status).toBe(201);
    expect(await t.db.prisma.task.count()).toBe(1);
  });
});
