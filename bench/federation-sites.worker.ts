/**
 * A worker process of `npm run bench:federation` that hosts several simulated sites. Each simulated site is the
 * site agent without its ML: its own Ed25519 key (SiteIdentity), enrollment and token exchange through the
 * agent's CoordinatorClient and egress gateway, the agent's socket.io FleetConnection to /v1, and on every
 * announced bundle the agent's own pullBundle (download, JWS signature against the pinned key, every adapter
 * hash, base-model fingerprint, atomic install in a BundleStore) followed by a status report, as the daemon does.
 *
 * It is driven over IPC by bench/federation.bench.ts (messages below) and reports each install with its time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_VERSION,
  type AgentState,
  BundleRefusedError,
  BundleStore,
  CoordinatorClient,
  EgressGateway,
  EgressLog,
  FleetConnection,
  pullBundle,
  SiteIdentity,
} from '@casam/site-agent/testing';

export type ToWorker =
  | {
      type: 'enroll';
      url: string;
      baseModelFingerprint: string;
      sites: { index: number; name: string; enrollmentToken: string }[];
    }
  | { type: 'connect' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'enrolled'; sites: { index: number; siteId: string; fingerprint: string }[] }
  | { type: 'connected'; index: number }
  | { type: 'installed'; index: number; version: number; at: number }
  | { type: 'refused'; index: number; code: string; message: string }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

interface SimSite {
  index: number;
  client: CoordinatorClient;
  state: AgentState;
  store: BundleStore;
  connection?: FleetConnection;
  queue: Promise<void>;
  everConnected: boolean;
}

const send = (m: FromWorker) => process.send?.(m);
const dir = mkdtempSync(join(tmpdir(), 'casam-bench-sim-'));
const sites: SimSite[] = [];
let fingerprint = '';

/** At most `limit` of `jobs` at once. */
async function pool<T>(items: T[], limit: number, job: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await job(items[next++]);
    }),
  );
}

async function enroll(m: Extract<ToWorker, { type: 'enroll' }>): Promise<void> {
  fingerprint = m.baseModelFingerprint;
  const out: { index: number; siteId: string; fingerprint: string }[] = [];
  await pool(m.sites, 8, async (s) => {
    const home = join(dir, `site-${s.index}`);
    const identity = await SiteIdentity.generate(join(home, 'site.key'));
    const egress = new EgressGateway(m.url, new EgressLog(join(home, 'egress.log')));
    const client = new CoordinatorClient(egress, identity, null);
    const res = await client.enroll({
      enrollmentToken: s.enrollmentToken,
      siteName: s.name,
      agentVersion: AGENT_VERSION,
    });
    // Pinned at enrollment, as `site-agent enroll` does.
    const jwks = await client.jwks();
    const state: AgentState = {
      version: 1,
      siteId: res.siteId,
      coordinatorKeys: jwks.keys.map((k) => ({ kid: k.kid, x: k.x })),
    };
    sites.push({
      index: s.index,
      client,
      state,
      store: new BundleStore(join(home, 'bundles')),
      queue: Promise.resolve(),
      everConnected: false,
    });
    out.push({ index: s.index, siteId: res.siteId, fingerprint: identity.fingerprint });
  });
  send({ type: 'enrolled', sites: out });
}

/** One pull and a status report, queued per site like the daemon's jobs. */
function pull(s: SimSite): void {
  s.queue = s.queue.then(async () => {
    try {
      const r = await pullBundle(
        s.client,
        s.store,
        s.state,
        fingerprint,
        () => undefined,
        (keys) => {
          s.state.coordinatorKeys = keys;
        },
      );
      if (r.kind === 'installed')
        send({ type: 'installed', index: s.index, version: r.installed.version, at: Date.now() });
    } catch (e) {
      const code = e instanceof BundleRefusedError ? e.code : 'error';
      send({ type: 'refused', index: s.index, code, message: (e as Error).message });
    }
    await s.connection?.sendStatus({
      agentVersion: AGENT_VERSION,
      bundleVersion: s.store.current()?.version ?? null,
    });
  });
}

function connect(): void {
  for (const s of sites) {
    s.connection = new FleetConnection(s.client, {
      log: () => undefined,
      onConnect: () => {
        if (!s.everConnected) send({ type: 'connected', index: s.index });
        s.everConnected = true;
        pull(s);
      },
      onBundlePublished: () => pull(s),
      onFinal: (e) => send({ type: 'refused', index: s.index, code: e.code, message: e.message }),
    });
    s.connection.start();
  }
}

async function stop(): Promise<void> {
  for (const s of sites) s.connection?.stop();
  await Promise.all(sites.map((s) => s.queue));
  rmSync(dir, { recursive: true, force: true });
  send({ type: 'stopped' });
  process.disconnect?.();
}

process.on('message', (m: ToWorker) => {
  const done = (p: Promise<void> | void) =>
    Promise.resolve(p).catch((e: unknown) =>
      send({ type: 'error', message: (e as Error).stack ?? String(e) }),
    );
  if (m.type === 'enroll') void done(enroll(m));
  else if (m.type === 'connect') void done(connect());
  else if (m.type === 'stop') void done(stop());
});
process.on('disconnect', () => {
  for (const s of sites) s.connection?.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
