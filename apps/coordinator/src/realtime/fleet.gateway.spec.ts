import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientToServerEvents,
  PROTOCOL_VERSION,
  type RealtimeAck,
  type RealtimeError,
  type ServerToClientEvents,
} from '@casam/protocol';
import { AccessTokenService } from '../auth/access-token.service';
import { BlobRepository } from '../blobs/blob.repository';
import { BundleBuilderService } from '../bundles/bundle-builder.service';
import { seedAdapter, seedAdminAndSite, seedTask } from '../../testing/bundle-test-data';
import { CoordinatorEvents } from '../events/coordinator-events';
import { MetricsService } from '../metrics/metrics.service';
import { SiteRepository } from '../sites/site.repository';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { FleetGateway } from './fleet.gateway';

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

describe('FleetGateway (real app, real socket.io clients)', () => {
  let t: TestApp;
  let tokens: AccessTokenService;
  let events: CoordinatorEvents;
  let adminId: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    tokens = t.app.get(AccessTokenService);
    events = t.app.get(CoordinatorEvents);
    ({ adminId } = await seedAdminAndSite(t.db, 'rt'));
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await t?.close();
  });

  let siteCounter = 0;
  async function newSite(): Promise<{ siteId: string; keyId: string; token: string }> {
    const site = await t.db.prisma.site.create({
      data: { name: `rt-site-${++siteCounter}`, status: 'approved' },
    });
    const key = await t.db.prisma.siteKey.create({
      data: {
        siteId: site.id,
        fingerprint: `rt-fp-${siteCounter}`,
        publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' },
      },
    });
    return { siteId: site.id, keyId: key.id, token: (await tokens.issueSite(site.id, key.id)).token };
  }

  function open(auth: Record<string, unknown>): Client {
    const c: Client = io(`${t.url}/v1`, {
      path: '/socket.io',
      auth,
      transports: ['websocket'],
      reconnection: false,
    });
    clients.push(c);
    return c;
  }

  /** Resolves once connected; rejects with the connect_error's data. */
  function connect(token: string, protocolVersion: string = PROTOCOL_VERSION): Promise<Client> {
    const c = open({ token, protocolVersion });
    return new Promise((resolve, reject) => {
      c.once('connect', () => resolve(c));
      c.once('connect_error', (e) => reject((e as Error & { data?: RealtimeError }).data ?? e));
    });
  }

  function next<E extends keyof ServerToClientEvents>(
    c: Client,
    event: E,
    ms = 5000,
  ): Promise<Parameters<ServerToClientEvents[E]>[0]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
      (c as unknown as { once(e: string, f: (x: unknown) => void): void }).once(event, (x) => {
        clearTimeout(timer);
        resolve(x as Parameters<ServerToClientEvents[E]>[0]);
      });
    });
  }

  function disconnected(c: Client, ms = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
      c.once('disconnect', (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  const progress = (c: Client, p: unknown): Promise<RealtimeAck> =>
    c.timeout(5000).emitWithAck('training.progress', p as never) as Promise<RealtimeAck>;

  /**
   * Counts the real repository's status writes (and can hold them back) while `fn` runs: the database work a
   * `site.status` costs.
   */
  async function countingStatusWrites<T>(
    fn: (w: { count: () => number; hold: () => () => void }) => Promise<T>,
  ): Promise<T> {
    const repo = t.app.get(SiteRepository);
    const original = repo.recordStatusReport.bind(repo);
    let count = 0;
    let gate: Promise<void> | null = null;
    repo.recordStatusReport = async (id, report) => {
      count++;
      if (gate) await gate;
      return original(id, report);
    };
    try {
      return await fn({
        count: () => count,
        hold: () => {
          let open!: () => void;
          gate = new Promise((r) => (open = r));
          return () => {
            gate = null;
            open();
          };
        },
      });
    } finally {
      repo.recordStatusReport = original;
    }
  }

  /** `site.status` events the gateway has taken in so far (its own metric). */
  async function statusEventsIn(): Promise<number> {
    const m = await t.app.get(MetricsService).socketEvents.get();
    return m.values.find((v) => v.labels.event === 'site.status' && v.labels.direction === 'in')?.value ?? 0;
  }

  it('refuses connections without good credentials, with a code in connect_error', async () => {
    const { token: admin } = await t.adminToken('viewer');
    await expect(
      new Promise((_, reject) =>
        open({}).once('connect_error', (e) => reject((e as { data?: unknown }).data)),
      ),
    ).rejects.toMatchObject({ code: 'missing_token' });
    await expect(connect('not-a-token')).rejects.toEqual({
      code: 'invalid_token',
      message: expect.any(String),
    });
    await expect(connect(admin, 'x.y')).rejects.toMatchObject({ code: 'protocol_invalid' });
    await expect(connect(admin, '99.0.0')).rejects.toMatchObject({ code: 'protocol_too_new' });
    await expect(
      new Promise((_, reject) =>
        open({ token: admin }).once('connect_error', (e) => reject((e as { data?: unknown }).data)),
      ),
    ).rejects.toMatchObject({ code: 'protocol_invalid', message: expect.stringMatching(/protocolVersion/) });
    const revoked = await newSite();
    await t.db.prisma.site.update({ where: { id: revoked.siteId }, data: { status: 'revoked' } });
    await expect(connect(revoked.token)).rejects.toMatchObject({ code: 'credentials_revoked' });
    const other = new AccessTokenService(new Uint8Array(32).fill(1), { now: () => new Date() });
    await expect(connect((await other.issueAdmin(adminId, 'admin')).token)).rejects.toMatchObject({
      code: 'invalid_token',
    });
  });

  it('tells admins when a site comes online and goes offline, and records its presence', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const site = await newSite();
    const online = next(admin, 'site.presence');
    const s1 = await connect(site.token);
    expect(await online).toMatchObject({ siteId: site.siteId, online: true });
    const row = await t.db.prisma.site.findUniqueOrThrow({ where: { id: site.siteId } });
    expect(row.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(row.lastSeenAddress).toBe('127.0.0.1');
    expect(row.lastSeenAt).not.toBeNull();

    const s2 = await connect(site.token); // a second socket of the same site: still one presence
    s1.disconnect();
    const offline = next(admin, 'site.presence');
    await new Promise((r) => setTimeout(r, 200));
    s2.disconnect();
    expect(await offline).toMatchObject({ siteId: site.siteId, online: false });
  });

  it('records what a site reports running (agent, bundle) and shows it to admins live', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const site = await newSite();
    const online = next(admin, 'site.presence');
    const s = await connect(site.token);
    await online;
    const status = (c: Client, r: unknown): Promise<RealtimeAck> =>
      c.timeout(5000).emitWithAck('site.status', r as never) as Promise<RealtimeAck>;
    const seen = next(admin, 'site.presence');
    expect(await status(s, { agentVersion: '0.1.0', bundleVersion: 7 })).toEqual({ ok: true });
    expect(await seen).toMatchObject({
      siteId: site.siteId,
      online: true,
      agentVersion: '0.1.0',
      bundleVersion: 7,
    });
    const res = await fetch(`${t.url}/api/v1/sites/${site.siteId}`, {
      headers: { authorization: `Bearer ${(await t.adminToken('viewer')).token}` },
    });
    const view = (await res.json()) as { presence: { agentVersion: string; bundleVersion: number | null } };
    expect(view.presence).toMatchObject({ agentVersion: '0.1.0', bundleVersion: 7 });

    expect(await status(s, { agentVersion: '0.1.0', bundleVersion: null })).toEqual({ ok: true });
    const row = await t.db.prisma.site.findUniqueOrThrow({ where: { id: site.siteId } });
    expect(row.installedBundleVersion).toBeNull();
    expect(row.installedBundleReportedAt).not.toBeNull();

    const bad = await status(s, { agentVersion: 'x; drop', bundleVersion: -1, extra: 1 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_status' } });
    const msg = (bad as { error: RealtimeError }).error.message;
    expect(msg).toMatch(/agentVersion/);
    expect(msg).toMatch(/bundleVersion/);
    expect(msg).toMatch(/unknown field "extra"/);
    expect(await status(admin, { agentVersion: '0.1.0', bundleVersion: 1 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('stores and announces a burst of status reports once for the latest, and an unchanged report not at all', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const site = await newSite();
    const online = next(admin, 'site.presence');
    const s = await connect(site.token);
    await online;
    const announced: number[] = [];
    admin.on('site.presence', (e) => {
      if (e.siteId === site.siteId && e.bundleVersion !== undefined) announced.push(e.bundleVersion ?? 0);
    });
    const status = (bundleVersion: number) =>
      s
        .timeout(5000)
        .emitWithAck('site.status', { agentVersion: '0.1.0', bundleVersion }) as Promise<RealtimeAck>;

    await countingStatusWrites(async (writes) => {
      // the first report's write is held while 14 more arrive (all within the socket's budget of 30)
      const release = writes.hold();
      const before = await statusEventsIn();
      const acks = [status(1)];
      for (let v = 2; v <= 15; v++) acks.push(status(v));
      while ((await statusEventsIn()) < before + 15) await new Promise((r) => setTimeout(r, 20));
      release();
      expect(await Promise.all(acks)).toEqual(Array(15).fill({ ok: true }));
      expect(writes.count()).toBe(2); // was 15: one write and one broadcast per report
      const row = await t.db.prisma.site.findUniqueOrThrow({ where: { id: site.siteId } });
      expect(row.installedBundleVersion).toBe(15);

      // the same report again and again: acknowledged, not written or announced again
      for (let i = 0; i < 10; i++) expect(await status(15)).toEqual({ ok: true });
      expect(writes.count()).toBe(2);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(announced).toEqual([1, 15]);
  });

  it('refuses a flood of 5,000 site.status from one socket, cuts the socket off and audits it; writes stay bounded', async () => {
    const { token: adminToken } = await t.adminToken('viewer');
    const admin = await connect(adminToken);
    const site = await newSite();
    const online = next(admin, 'site.presence');
    const s = await connect(site.token);
    await online;
    let broadcasts = 0;
    admin.on('site.presence', (e) => {
      if (e.siteId === site.siteId && e.agentVersion !== undefined) broadcasts++;
    });
    const acks: RealtimeAck[] = [];
    const ended = next(s, 'session.ended', 30_000);
    const gone = disconnected(s, 30_000);
    const { burst, perMinute } = { burst: 30, perMinute: 120 }; // the defaults this app runs with

    const writes = await countingStatusWrites(async (w) => {
      for (let i = 0; i < 5000; i++)
        s.emit('site.status', { agentVersion: '0.1.0', bundleVersion: (i % 50) + 1 }, (a: RealtimeAck) =>
          acks.push(a),
        );
      expect(await ended).toEqual({ code: 'rate_limited', message: expect.stringMatching(/slow down/) });
      expect(await gone).toBe('io server disconnect');
      // an admin's REST call is answered meanwhile
      const res = await fetch(`${t.url}/api/v1/sites/${site.siteId}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 300)); // writes of accepted reports still under way
      return w.count();
    });
    // Before: 5,000 writes and 5,000 admin broadcasts. Now: at most the budget, coalesced; often none, as
    // events still queued behind the cut are dropped with the socket.
    console.log(`flood of 5000 site.status: ${writes} status write(s), ${broadcasts} broadcast(s)`);
    expect(writes).toBeLessThanOrEqual(burst);
    expect(broadcasts).toBeLessThanOrEqual(burst);
    const refusedAcks = acks.filter((a) => !a.ok);
    expect(refusedAcks.length).toBeGreaterThan(0);
    expect(refusedAcks[0]).toEqual({
      ok: false,
      error: { code: 'rate_limited', message: expect.stringMatching(/at most 30 at once and 120 a minute/) },
    });

    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'realtime.rate_limited', actorId: site.siteId },
    });
    expect(audit).toMatchObject({
      actorType: 'site',
      siteId: site.siteId,
      outcome: 'denied',
      targetType: 'socket',
      address: '127.0.0.1',
      details: { lastEvent: 'site.status', perMinute, burst },
    });
    const d = audit!.details as { accepted: number; refused: number };
    expect(d.accepted).toBeLessThan(100);
    expect(d.refused).toBeGreaterThan(burst);

    // not banned: the site reconnects and reports again
    const back = await connect(site.token);
    expect(
      await (back.timeout(5000).emitWithAck('site.status', {
        agentVersion: '0.1.0',
        bundleVersion: 7,
      }) as Promise<RealtimeAck>),
    ).toEqual({ ok: true });
  });

  it("sends an admin's key-rotation request to the site's sockets at once", async () => {
    const site = await newSite();
    const s = await connect(site.token);
    const { token } = await t.adminToken('admin');
    const asked = next(s, 'site.key_rotation_requested');
    const res = await fetch(`${t.url}/api/v1/sites/${site.siteId}/key-rotation-request`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const view = (await res.json()) as { keyRotationRequestedAt: string | null };
    expect(view.keyRotationRequestedAt).not.toBeNull();
    expect(await asked).toEqual({ requestedAt: view.keyRotationRequestedAt });
  });

  it('announces a published bundle to every socket', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const site = await connect((await newSite()).token);
    const seeded = await newSite();
    const task = await seedTask(t.db, { siteId: seeded.siteId, adminId, name: 'bundle-event' });
    await seedAdapter(t.db, t.blobStore, t.app.get(BlobRepository), {
      taskId: task,
      siteId: seeded.siteId,
      adminId,
      version: 1,
    });
    const atAdmin = next(admin, 'bundle.published');
    const atSite = next(site, 'bundle.published');
    const { published } = await t.app.get(BundleBuilderService).reconcile({ reason: 'manual', adminId });
    const expected = {
      version: published!.version,
      contentHash: published!.contentHash,
      createdAt: published!.createdAt.toISOString(),
      announcedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    };
    const [a, s] = [await atAdmin, await atSite];
    expect(a).toEqual(expected);
    expect(s).toEqual(expected);
    // Announced after the bundle was built and stored.
    expect(Date.parse(a.announcedAt)).toBeGreaterThanOrEqual(published!.createdAt.getTime());
  });

  it('sends task status changes to admins and the proposing site only', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const proposer = await newSite();
    const bystander = await newSite();
    const p = await connect(proposer.token);
    const b = await connect(bystander.token);
    const task = await seedTask(t.db, {
      siteId: proposer.siteId,
      adminId,
      name: 'status-event',
      status: 'approved',
    });
    let bystanderGot = false;
    b.on('task.status_changed', () => (bystanderGot = true));
    const atAdmin = next(admin, 'task.status_changed');
    const atProposer = next(p, 'task.status_changed');
    await events.emit({
      type: 'task.status_changed',
      taskId: task,
      status: 'approved',
      previous: 'proposed',
    });
    const expected = { taskId: task, status: 'approved', previous: 'proposed', at: expect.any(String) };
    expect(await atAdmin).toEqual(expected);
    expect(await atProposer).toEqual(expected);
    await new Promise((r) => setTimeout(r, 200));
    expect(bystanderGot).toBe(false);
  });

  it('relays valid training progress to admins and answers bad reports with an ack error', async () => {
    const admin = await connect((await t.adminToken('viewer')).token);
    const site = await newSite();
    const foreign = await newSite();
    const task = await seedTask(t.db, { siteId: site.siteId, adminId, name: 'progress' });
    const foreignTask = await seedTask(t.db, { siteId: foreign.siteId, adminId, name: 'not-yours' });
    const s = await connect(site.token);

    const relayed = next(admin, 'training.progress');
    const report = {
      taskId: task,
      stage: 'training_align',
      epoch: 2,
      epochs: 10,
      loss: 0.3,
      metrics: { iou: 0.7 },
    };
    expect(await progress(s, report)).toEqual({ ok: true });
    expect(await relayed).toEqual({ ...report, siteId: site.siteId, at: expect.any(String) });

    const bad = await progress(s, {
      taskId: task,
      stage: 'training_align',
      epoch: 11,
      epochs: 10,
      image: 'AAAA',
    });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_progress' } });
    expect((bad as { error: RealtimeError }).error.message).toMatch(
      /unknown field "image".*epoch must not exceed epochs/,
    );
    expect(await progress(s, 'garbage')).toMatchObject({ ok: false, error: { code: 'invalid_progress' } });
    expect(await progress(s, { ...report, taskId: foreignTask })).toMatchObject({
      ok: false,
      error: { code: 'task_not_yours' },
    });
    expect(await progress(admin, report)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // the socket survived every bad report
    expect(s.connected).toBe(true);
    expect(await progress(s, { ...report, epoch: 3 })).toEqual({ ok: true });
  });

  it('disconnects a revoked site and a revoked key at once', async () => {
    const site = await newSite();
    const s = await connect(site.token);
    const ended = next(s, 'session.ended');
    const gone = disconnected(s);
    await t.db.prisma.site.update({ where: { id: site.siteId }, data: { status: 'revoked' } });
    await events.emit({ type: 'site.revoked', siteId: site.siteId });
    expect(await ended).toMatchObject({ code: 'credentials_revoked' });
    expect(await gone).toBe('io server disconnect');

    const other = await newSite();
    const k = await connect(other.token);
    const keyGone = disconnected(k);
    await events.emit({ type: 'site.key_revoked', siteId: other.siteId, keyId: 'another-key' });
    await new Promise((r) => setTimeout(r, 200));
    expect(k.connected).toBe(true); // another key of the site: this session stays
    await events.emit({ type: 'site.key_revoked', siteId: other.siteId, keyId: other.keyId });
    expect(await keyGone).toBe('io server disconnect');
  });

  it('disconnects a socket when its access token expires', async () => {
    const admin = await t.db.prisma.admin.create({
      data: { email: 'short@example.org', role: 'viewer', passwordHash: '!' },
    });
    const c = await connect((await tokens.issueAdmin(admin.id, 'viewer', 2)).token);
    const ended = next(c, 'session.ended', 5000);
    expect(await ended).toMatchObject({ code: 'token_expired' });
  });

  it('drops sockets whose principal no longer holds on the periodic re-check', async () => {
    const { adminId: id, token } = await t.adminToken('viewer');
    const c = await connect(token);
    const keep = await connect((await t.adminToken('viewer')).token);
    const site = await newSite();
    await connect(site.token);
    await t.db.prisma.site.update({
      where: { id: site.siteId },
      data: { lastSeenAt: new Date('2020-01-01') },
    });
    const ended = next(c, 'session.ended');
    await t.db.prisma.admin.update({ where: { id }, data: { disabledAt: new Date() } });
    await t.app.get(FleetGateway).recheckAll();
    expect(await ended).toMatchObject({ code: 'credentials_revoked' });
    expect(keep.connected).toBe(true);
    // sites still connected are seen again
    const row = await t.db.prisma.site.findUniqueOrThrow({ where: { id: site.siteId } });
    expect(row.lastSeenAt!.getTime()).toBeGreaterThan(Date.parse('2025-01-01'));
  });
});
