import { createHash } from 'node:crypto';
import pg from 'pg';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The coordinator's test kit: its throwaway Postgres cluster and a site speaking plain HTTP (reused, not copied).
import {
  enrollHttpSite,
  type HttpSite,
  postgresBinariesAvailable,
  type PostgresCluster,
  startPostgresCluster,
  testAdapterFile,
} from '@casam/coordinator/testing';
import {
  type AdapterVersionSummary,
  type BundleDetail,
  type BundleListResponse,
  type BundlePublishedEvent,
  PROTOCOL_VERSION,
  REALTIME_NAMESPACE,
  REALTIME_PATH,
  type ServerToClientEvents,
  type SitePresenceEvent,
  type TaskSummary,
} from '@casam/protocol';
import { FailoverProxy } from './support/failover-proxy';
import { type Replica, ReplicaSet } from './support/replicas';

const METRICS = { dice: 0.8 };
const WAIT_MS = 30_000;
const DRAIN_SECONDS = 5;

/** Every event of some kinds a socket received, and a way to wait for one (with a deadline). */
class Events<T> {
  readonly seen: T[] = [];
  private waiters: { match: (e: T) => boolean; resolve: (e: T) => void }[] = [];

  push(e: T): void {
    this.seen.push(e);
    for (const w of [...this.waiters])
      if (w.match(e)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(e);
      }
  }

  /** The first event (from index `since` on) that matches; rejects after `ms`. */
  waitFor(what: string, match: (e: T) => boolean, since = 0, ms = WAIT_MS): Promise<T> {
    const already = this.seen.slice(since).find(match);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}

type AnySocket = Socket<ServerToClientEvents>;

function bundleEvents(socket: AnySocket): Events<BundlePublishedEvent> {
  const ev = new Events<BundlePublishedEvent>();
  socket.on('bundle.published', (e) => ev.push(e));
  return ev;
}

async function adminSocket(replica: Replica): Promise<AnySocket> {
  return siteSocket(replica, await replica.adminToken());
}

/** A socket with `token` straight to `replica` (no balancer). */
async function siteSocket(replica: Replica, token: string): Promise<AnySocket> {
  const socket: AnySocket = io(`${replica.url}${REALTIME_NAMESPACE}`, {
    path: REALTIME_PATH,
    auth: { token, protocolVersion: PROTOCOL_VERSION },
    transports: ['websocket'],
    reconnection: false,
  });
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('socket did not connect in 10 s')), 10_000);
    socket.once('connect', () => (clearTimeout(timer), res()));
    socket.once('connect_error', (e) => (clearTimeout(timer), rej(e)));
  });
  return socket;
}

/** Requests through `front` until three in a row succeed: no stale pooled connection is left behind it. */
async function throughBalancerAgain(front: FailoverProxy): Promise<void> {
  let ok = 0;
  for (let tries = 0; ok < 3; tries++) {
    if (tries >= 20) throw new Error(`no 3 successful requests in a row through ${front.url}`);
    const r = await fetch(`${front.url}/healthz`).catch(() => null);
    ok = r?.ok ? ok + 1 : 0;
  }
}

const adapterIds = (b: BundleDetail) => b.manifest.tasks.map((t) => t.adapterVersionId).sort();

describe.skipIf(!postgresBinariesAvailable())('two coordinator replicas on one Postgres', () => {
  let cluster: PostgresCluster;
  let replicas: ReplicaSet;
  let a: Replica;
  let b: Replica;
  let c: Replica | undefined;
  let frontA: FailoverProxy;
  let frontB: FailoverProxy;
  let admin: AnySocket;
  const presence = new Events<SitePresenceEvent>();
  let s1: HttpSite;
  let s2: HttpSite;
  let sock1: AnySocket;
  let sock2: AnySocket;
  let bundles1: Events<BundlePublishedEvent>;
  let bundles2: Events<BundlePublishedEvent>;
  let t1: TaskSummary;
  let t2: TaskSummary;

  const allBundles = async (r: Replica) =>
    (await r.admin<BundleListResponse>('GET', '/api/v1/bundles')).bundles.sort(
      (x, y) => x.version - y.version,
    );

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    const c = new pg.Client({ connectionString: cluster.url('postgres') });
    await c.connect();
    await c.query('CREATE DATABASE casam_replicas');
    await c.end();
    replicas = new ReplicaSet(cluster.url('casam_replicas'));
    await replicas.createAdmin();
    // both at once: the migrations' advisory lock and the builders' compare-and-set meet at startup too
    // B drains for a few seconds on SIGTERM (the rolling upgrade below); A is only ever killed
    [a, b] = await Promise.all([
      replicas.start('A'),
      replicas.start('B', { COORDINATOR_SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS) }),
    ]);
    frontA = await FailoverProxy.start([a.url, b.url]);
    frontB = await FailoverProxy.start([b.url, a.url]);
    admin = await adminSocket(b);
    admin.on('site.presence', (e) => presence.push(e));
  }, 240_000);

  afterAll(async () => {
    // what went wrong inside the replicas, should anything have (their logs are otherwise not shown)
    for (const r of [a, b, c]) {
      const lines = r?.log().split('\n') ?? [];
      lines.forEach((line, i) => {
        if (/\b(ERROR|WARN)\b/.test(line)) console.error(`[${r!.name}] ${lines.slice(i, i + 30).join('\n')}`);
      });
    }
    for (const s of [sock1, sock2, admin]) s?.disconnect();
    await frontA?.stop();
    await frontB?.stop();
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    replicas?.cleanup();
    cluster?.stop();
  });

  it('sites pinned to different replicas show online to an admin on the other one', async () => {
    s1 = await enrollHttpSite({ url: frontA.url, admin: a.admin }, 'Replica Site One');
    s2 = await enrollHttpSite({ url: frontB.url, admin: b.admin }, 'Replica Site Two');
    await a.admin('POST', `/api/v1/sites/${s1.siteId}/approve`, { keyFingerprint: s1.fingerprint });
    await b.admin('POST', `/api/v1/sites/${s2.siteId}/approve`, { keyFingerprint: s2.fingerprint });
    sock1 = await s1.connect();
    sock2 = await s2.connect();
    bundles1 = bundleEvents(sock1);
    bundles2 = bundleEvents(sock2);
    // site one talks to replica A only (its balancer prefers A), yet the admin on B sees it come online
    expect([...frontA.routed.keys()]).toEqual([new URL(a.url).host]);
    await presence.waitFor('presence of site one', (e) => e.siteId === s1.siteId && e.online);
    await presence.waitFor('presence of site two', (e) => e.siteId === s2.siteId && e.online);

    // Site one opens a second socket, straight to B, and closes it: B asks A, finds the site still there and
    // announces nothing (the longest B may take to decide is the 3 s cluster query timeout, hence the window).
    const mark = presence.seen.length;
    const extra = await siteSocket(b, await s1.token());
    await presence.waitFor('site one online (second socket, on B)', (e) => e.siteId === s1.siteId, mark);
    extra.disconnect();
    await expect(
      presence.waitFor('site one offline', (e) => e.siteId === s1.siteId && !e.online, mark, 5_000),
    ).rejects.toThrow(/no site one offline/);
    // its last socket (on A) closing does make it offline, for the admin on B too
    sock1.disconnect();
    await presence.waitFor('site one offline', (e) => e.siteId === s1.siteId && !e.online, mark);
    const back = presence.seen.length;
    sock1 = await s1.connect();
    bundles1 = bundleEvents(sock1);
    await presence.waitFor('site one online again', (e) => e.siteId === s1.siteId && e.online, back);
  });

  it('revoking a site on B ends its session on A at once', async () => {
    const s3 = await enrollHttpSite({ url: frontA.url, admin: a.admin }, 'Replica Site Three');
    await a.admin('POST', `/api/v1/sites/${s3.siteId}/approve`, { keyFingerprint: s3.fingerprint });
    const sock3 = await s3.connect(); // through A
    const ended = new Promise<{ code: string }>((res) => sock3.once('session.ended', (e) => res(e)));
    const gone = new Promise<void>((res) => sock3.once('disconnect', () => res()));
    await b.admin('POST', `/api/v1/sites/${s3.siteId}/revoke`, { reason: 'decommissioned' });
    const timeout = (what: string) =>
      new Promise<never>((_, rej) =>
        setTimeout(() => rej(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS),
      );
    expect(await Promise.race([ended, timeout('session.ended')])).toMatchObject({
      code: 'credentials_revoked',
    });
    await Promise.race([gone, timeout('disconnect')]);
  });

  it('concurrent approvals on both replicas: one bundle per approval, versions in order, the same announcements on both', async () => {
    t1 = await s1.proposeTask('Liver CT (replica A)');
    t2 = await s2.proposeTask('Liver CT (replica B)');
    await Promise.all([
      a.admin('POST', `/api/v1/tasks/${t1.id}/approve`),
      b.admin('POST', `/api/v1/tasks/${t2.id}/approve`),
    ]);
    const [u1, u2] = await Promise.all([
      s1.uploadAdapter(t1.id, { metrics: METRICS }),
      s2.uploadAdapter(t2.id, { metrics: METRICS }),
    ]);
    const before = await allBundles(a);
    // two different adapters approved at the same moment, one on each replica
    await Promise.all([
      a.admin('POST', `/api/v1/adapters/${u1.adapter.id}/approve`),
      b.admin('POST', `/api/v1/adapters/${u2.adapter.id}/approve`),
    ]);
    // (an approval answers once its bundle build, retries included, is done)
    const after = await allBundles(b);
    const made = after.slice(before.length);
    expect(made.length).toBeGreaterThanOrEqual(1);
    expect(made.length).toBeLessThanOrEqual(2); // never more bundles than approvals
    expect(after.map((x) => x.version)).toEqual(after.map((_, i) => i + 1)); // no repeat, no gap
    const details = await Promise.all(
      made.map((x) => a.admin<BundleDetail>('GET', `/api/v1/bundles/${x.version}`)),
    );
    // no bundle repeats the content of the one before it, and the newest holds both approvals
    const contents = details.map((d) => adapterIds(d).join());
    expect(new Set(contents).size).toBe(contents.length);
    expect(adapterIds(details.at(-1)!)).toEqual([u1.adapter.id, u2.adapter.id].sort());

    // the same adapter approved on both replicas at once: one decision, one bundle
    const again = await s1.uploadAdapter(t1.id, { metrics: { dice: 0.85 } });
    const n = (await allBundles(a)).length;
    const answers = await Promise.all([
      a.adminRaw('POST', `/api/v1/adapters/${again.adapter.id}/approve`),
      b.adminRaw('POST', `/api/v1/adapters/${again.adapter.id}/approve`),
    ]);
    // a compare-and-set on the adapter's status: one replica decides, the other is told it is decided
    expect(answers.filter((r) => r.status < 300)).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409)).toMatchObject([
      { body: { error: { code: 'adapter_not_pending' } } },
    ]);
    const latest = await allBundles(b);
    expect(latest.map((x) => x.version)).toEqual(latest.map((_, i) => i + 1));
    expect(latest).toHaveLength(n + 1);
    const newest = latest.at(-1)!;

    // site one (on A) and site two (on B) hear of every bundle, whichever replica built it
    for (const x of latest.slice(before.length)) {
      const on1 = await bundles1.waitFor(`bundle ${x.version} on site one`, (e) => e.version === x.version);
      const on2 = await bundles2.waitFor(`bundle ${x.version} on site two`, (e) => e.version === x.version);
      expect(on1.contentHash).toBe(x.contentHash);
      expect(on2.contentHash).toBe(x.contentHash);
    }
    expect(bundles1.seen.filter((e) => e.version === newest.version)).toHaveLength(1);
    expect(bundles2.seen.filter((e) => e.version === newest.version)).toHaveLength(1);
  });

  it('killing replica A moves its site to B mid-upload: no upload lost, no adapter twice', async () => {
    const bytes = testAdapterFile(t1.id, 64, 'casam-tiny', { dice: 0.9 });
    const versionsBefore = await b.admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${t1.id}/adapters`);
    const dropped = new Promise<void>((res) => sock1.once('disconnect', () => res()));
    let killedAt = -1;
    const result = await s1.uploadBytes(t1.id, bytes, {
      afterChunk: async (i, count) => {
        if (i !== Math.floor(count / 2)) return;
        killedAt = i;
        await a.stop('SIGKILL'); // a crash: no goodbye to the other replica, no cleanup
        await dropped;
        // The balancer cut the site's keep-alive connections to A; let this process's HTTP client notice
        // (a request on a cut connection fails at once and drops it, as the agent's would be retried).
        await throughBalancerAgain(frontA);
      },
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(result).toMatchObject({ step: 'complete', status: 200 });
    expect(frontA.routed.get(new URL(b.url).host)).toBeGreaterThan(0);
    const adapter = (result.body as { adapter: AdapterVersionSummary }).adapter;

    const versions = await b.admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${t1.id}/adapters`);
    expect(versions.length).toBe(versionsBefore.length + 1);
    expect(versions.filter((v) => v.id === adapter.id)).toHaveLength(1);
    // the bytes that arrived half on A and half on B are the bytes the site sent
    const file = await fetch(`${b.url}/api/v1/adapters/${adapter.id}/file`, {
      headers: { authorization: `Bearer ${await b.adminToken()}` },
    });
    expect(file.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await file.arrayBuffer()))
        .digest('hex'),
    ).toBe(createHash('sha256').update(bytes).digest('hex'));

    // the site reconnects through its balancer, now to B, and hears of the bundle with its new adapter
    const mark = presence.seen.length;
    sock1 = await s1.connect();
    bundles1 = bundleEvents(sock1);
    await presence.waitFor('site one online again, on B', (e) => e.siteId === s1.siteId && e.online, mark);
    await b.admin('POST', `/api/v1/adapters/${adapter.id}/approve`);
    const newest = (await allBundles(b)).at(-1)!;
    const detail = await b.admin<BundleDetail>('GET', `/api/v1/bundles/${newest.version}`);
    expect(adapterIds(detail)).toContain(adapter.id);
    await bundles1.waitFor('the new bundle on site one', (e) => e.version === newest.version);
    await bundles2.waitFor('the new bundle on site two', (e) => e.version === newest.version);
  });

  it('rolling upgrade: B drains (readyz 503, still serving), stops, and its sites carry on on the new replica C', async () => {
    c = await replicas.start('C');
    // the operator puts C in the pool and takes dead A out
    frontA.setBackends([b.url, c.url]);
    frontB.setBackends([b.url, c.url]);
    const ready = async (r: Replica) => {
      const res = await fetch(`${r.url}/readyz`);
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    expect((await ready(c)).status).toBe(200);
    const dropped = Promise.all(
      [sock1, sock2].map((s) => new Promise<void>((res) => s.once('disconnect', () => res()))),
    );
    const stopped = b.stop('SIGTERM');
    let draining = await ready(b);
    for (const deadline = Date.now() + WAIT_MS; draining.status === 200 && Date.now() < deadline;)
      draining = await ready(b);
    expect(draining).toMatchObject({ status: 503, body: { error: { code: 'draining' } } });
    // while draining it still serves: its sites are still connected and its API answers
    expect(sock1.connected && sock2.connected).toBe(true);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    await stopped;
    await dropped;
    await throughBalancerAgain(frontA);
    await throughBalancerAgain(frontB);

    // both sites reconnect through their balancers, now to C, and the next bundle reaches them there
    const adminOnC = await adminSocket(c);
    const onC = new Events<SitePresenceEvent>();
    adminOnC.on('site.presence', (e) => onC.push(e));
    sock1 = await s1.connect();
    sock2 = await s2.connect();
    expect(frontB.routed.get(new URL(c.url).host)).toBeGreaterThan(0);
    bundles1 = bundleEvents(sock1);
    bundles2 = bundleEvents(sock2);
    await onC.waitFor('site one online on C', (e) => e.siteId === s1.siteId && e.online);
    await onC.waitFor('site two online on C', (e) => e.siteId === s2.siteId && e.online);
    const next = await s2.uploadAdapter(t2.id, { metrics: { dice: 0.88 } });
    await c.admin('POST', `/api/v1/adapters/${next.adapter.id}/approve`);
    const newest = (await allBundles(c)).at(-1)!;
    await bundles1.waitFor('bundle on site one after the upgrade', (e) => e.version === newest.version);
    await bundles2.waitFor('bundle on site two after the upgrade', (e) => e.version === newest.version);
    adminOnC.disconnect();
  });
});
