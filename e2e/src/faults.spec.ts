import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import type {
  AdapterVersionSummary,
  AuditEventListResponse,
  AuditEventView,
  BundleDetail,
} from '@casam/protocol';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { RecordingProxy, type RecordedRequest } from './support/recording-proxy';
import { siteAgent, QUICK_TRAIN_FLAGS } from './support/site-agent-cli';
import { type AgentProcess, startAgentProcess } from './support/site-agent-process';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const CHUNK = 65536;
const isChunkPut = (r: RecordedRequest) => r.method === 'PUT' && /\/chunks\/\d+$/.test(r.url);
const chunkIndex = (r: RecordedRequest) => Number(/\/chunks\/(\d+)$/.exec(r.url)![1]);
const ok = (r: RecordedRequest) => r.status >= 200 && r.status < 300;

/**
 * Faults with real processes: a coordinator SIGKILLed in the middle of a chunk and again right after it
 * committed an upload but before the agent heard, bundles altered in transit and on disk, and a coordinator
 * killed under connected daemons. Every time: nothing lost, nothing duplicated, the federation converges.
 * The coordinator runs on Postgres when the e2e cluster runs (CI), otherwise on its embedded database.
 */
describe('faults: coordinator killed mid-upload, tampered bundles, restart under connected daemons', () => {
  let coord: CoordinatorProcess;
  let port = 0;
  let proxy: RecordingProxy;
  let proxyUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-faults-'));
  const homeA = join(dir, 'agent-a');
  const homeB = join(dir, 'agent-b');
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'kidney');
  const agentA = agentRunner(homeA);
  const agentB = agentRunner(homeB);
  const env = { CASAM_BACKEND: 'wasm' };
  let siteA = '';
  let taskId = '';
  let adapterId = '';
  const daemons: AgentProcess[] = [];

  // A fixed port across restarts. Every agent here shares one address, and each CLI run exchanges a token:
  // the auth rate limit is lifted so that a fast machine does not trip it (it is not what is under test).
  const coordinatorEnv = () => ({
    COORDINATOR_PORT: String(port),
    COORDINATOR_AUTH_RATE_PER_MINUTE: '6000',
    COORDINATOR_AUTH_RATE_BURST: '1000',
  });
  const kill = () => coord.stop('SIGKILL', true);
  const restart = async () => {
    coord = await startCoordinatorProcess({ env: coordinatorEnv(), restartOf: coord });
  };
  const segmentJson = async (out: string) => {
    const manifest = JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as {
      items: { image: string }[];
    };
    const r = await siteAgent(
      homeA,
      ['segment', '--image', join(data, manifest.items[0].image), '--box', '20,20,100,100'].concat([
        '--out',
        join(dir, out),
        '--json',
      ]),
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    return {
      stderr: r.stderr,
      ...(JSON.parse(r.stdout) as { bundleVersion: number | null; scores: { taskId: string }[] }),
    };
  };

  beforeAll(async () => {
    writeTinyBaseModel(weights, 9);
    await writeDomainFolder(data, 'kidney-56nx-glomerulus', {
      count: 12,
      size: 128,
      seed: 3,
      preview: false,
    });
    port = await freePort();
    coord = await startCoordinatorProcess({ env: coordinatorEnv(), postgres: true });
    // The proxy's upstream is the coordinator's fixed port: it outlives every restart.
    proxy = new RecordingProxy(coord.url);
    proxyUrl = await proxy.start();
    ({ siteId: siteA } = await enrollApprovedSite(coord, homeA, agentA, {
      coordinatorUrl: proxyUrl,
      siteName: 'Rikshospitalet',
      weights,
    }));
    await agentA(['ingest', '--task', 'kidney', '--folder', data]);
    taskId = /as ([0-9a-f-]{36})/.exec((await agentA(['propose', '--task', 'kidney'])).stdout)![1];
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    await agentA(['train', '--task', 'kidney', ...QUICK_TRAIN_FLAGS]);
  });
  afterAll(async () => {
    // Each step bounded, so one stuck process cannot hold up the others; it says which one, then is killed.
    const within = async (what: string, p: Promise<unknown>): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        p.then(() => true),
        new Promise<false>((r) => (timer = setTimeout(() => r(false), 20_000))),
      ]);
      clearTimeout(timer);
      if (!done) console.error(`cleanup: ${what} did not end within 20 s; killing it`);
      return done;
    };
    for (const [i, d] of daemons.entries())
      if (!(await within(`daemon ${i}`, d.stop()))) d.child.kill('SIGKILL');
    await within('proxy', proxy?.close() ?? Promise.resolve());
    if (coord && !(await within('coordinator', coord.stop('SIGTERM', true))))
      await coord.stop('SIGKILL', true);
    await coord?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL mid-chunk and after the commit: the upload resumes, no finished chunk is resent, one intact adapter', async () => {
    // 1. The coordinator dies while chunk 2 is half-way over the wire.
    let cut = false;
    proxy.hooks = {
      request: (r) => {
        if (cut || !isChunkPut(r) || chunkIndex(r) !== 2) return;
        cut = true;
        return { cutAfterBytes: r.body.length >> 1, meanwhile: kill };
      },
    };
    const first = await siteAgent(
      homeA,
      ['upload', '--task', 'kidney', '--chunk-size', String(CHUNK), '--force'],
      env,
    );
    expect(first.code, first.stdout).toBe(5);
    expect(first.stderr).toMatch(/cannot reach the coordinator/);
    expect(first.stderr).toMatch(/the chunks sent so far are kept; run the same command again to resume/);
    const firstPuts = proxy.requests.filter(isChunkPut);
    expect(firstPuts.filter(ok).map(chunkIndex)).toEqual([0, 1]);

    // 2. Restarted on the same data: the agent resumes; this time the coordinator dies right after it
    //    committed the completed upload, before its answer reaches the agent.
    await restart();
    const mark = proxy.requests.length;
    proxy.hooks = {
      response: async (r) => {
        if (r.method !== 'POST' || !/\/uploads\/[^/]+\/complete$/.test(r.url)) return;
        await kill();
        return 'drop';
      },
    };
    const second = await siteAgent(
      homeA,
      ['upload', '--task', 'kidney', '--chunk-size', String(CHUNK), '--force'],
      env,
    );
    expect(second.code, second.stdout).toBe(5);
    const resumed = /resuming upload \S+: 2\/(\d+) chunk\(s\) already there/.exec(
      second.stdout + second.stderr,
    );
    expect(resumed, second.stderr).not.toBeNull();
    const chunkCount = Number(resumed![1]);
    expect(chunkCount).toBeGreaterThan(4);
    const secondPuts = proxy.requests.slice(mark).filter(isChunkPut);
    // Only the missing chunks went out, each once and accepted.
    expect(secondPuts.map(chunkIndex)).toEqual([...Array(chunkCount).keys()].slice(2));
    expect(secondPuts.every(ok)).toBe(true);

    // 3. Restarted again: the agent learns its upload had completed and sends nothing more.
    await restart();
    proxy.hooks = {};
    const third = proxy.requests.length;
    const done = await agentA(['upload', '--task', 'kidney', '--chunk-size', String(CHUNK), '--force']);
    expect(done.stdout).toMatch(/already uploaded: adapter version [0-9a-f-]{36}/);
    expect(proxy.requests.slice(third).filter(isChunkPut)).toEqual([]);

    // Every chunk index was accepted exactly once over the three runs.
    const accepted = proxy.requests.filter((r) => isChunkPut(r) && ok(r)).map(chunkIndex);
    expect(accepted).toEqual([...Array(chunkCount).keys()]);

    // One adapter version, and its stored bytes are the site's file, bit for bit.
    const versions = await coord.admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${taskId}/adapters`);
    expect(versions).toHaveLength(1);
    adapterId = versions[0].id;
    expect(done.stdout).toContain(adapterId);
    const task = JSON.parse(readFileSync(join(homeA, 'tasks', 'kidney', 'task.json'), 'utf8')) as {
      training: { adapter: string };
      upload: { sha256: string };
    };
    const stamped = join(homeA, 'tasks', 'kidney', 'adapter.upload.safetensors');
    const local = readFileSync(existsSync(stamped) ? stamped : task.training.adapter);
    expect(sha(local)).toBe(task.upload.sha256);
    const file = await fetch(`${coord.url}/api/v1/adapters/${adapterId}/file`, {
      headers: { authorization: `Bearer ${await coord.adminToken()}` },
    });
    expect(file.status).toBe(200);
    const stored = new Uint8Array(await file.arrayBuffer());
    expect(stored.byteLength).toBe(local.byteLength);
    expect(sha(stored)).toBe(sha(local));
  });

  it('a bundle altered in transit or on disk is refused and the site keeps segmenting with the one it had', async () => {
    await coord.admin('POST', `/api/v1/adapters/${adapterId}/approve`);
    const v1 = Number(/installed bundle (\d+) \(1 task/.exec((await agentA(['pull'])).stdout)![1]);
    expect((await segmentJson('m1.png')).scores.map((s) => s.taskId)).toEqual([taskId]);

    // The next bundle (the task retired: no task in it).
    await coord.admin('POST', `/api/v1/tasks/${taskId}/retire`, { reason: 'fault test' });
    const latest = await coord.admin<BundleDetail>('GET', '/api/v1/bundles/latest');
    expect(latest.version).toBeGreaterThan(v1);
    const isArchive = (r: RecordedRequest) => r.url === `/api/v1/bundles/${latest.version}/archive`;

    // In transit, a flipped byte: the archive fails the listed hash.
    proxy.hooks = {
      response: (r, body) => {
        if (!isArchive(r)) return;
        const b = Buffer.from(body);
        b[b.length - 1500] ^= 0x01;
        return b;
      },
    };
    const flipped = await siteAgent(homeA, ['pull'], env);
    expect(flipped.code).toBe(3);
    expect(flipped.stderr).toMatch(
      new RegExp(
        `bundle ${latest.version} refused: .*\\[content_hash_mismatch\\]; the bundle in use \\(${v1}\\) stays`,
      ),
    );

    // In transit by someone who also rewrites the listing to the altered archive's hash: the signed manifest
    // still catches it.
    const archive = await fetch(`${coord.url}/api/v1/bundles/${latest.version}/archive`, {
      headers: { authorization: `Bearer ${await coord.adminToken()}` },
    });
    expect(archive.status).toBe(200);
    const forged = Buffer.from(await archive.arrayBuffer());
    forged[forged.length - 1500] ^= 0x01;
    proxy.hooks = {
      response: (r, body) => {
        if (isArchive(r)) return forged;
        if (r.url !== '/api/v1/bundles/latest') return;
        const text = body.toString('utf8');
        const hash = latest.contentHash.replace(/[0-9a-f]{64}$/, sha(forged));
        expect(text).toContain(latest.contentHash);
        return Buffer.from(text.split(latest.contentHash).join(hash), 'utf8');
      },
    };
    const forgedPull = await siteAgent(homeA, ['pull'], env);
    expect(forgedPull.code).toBe(3);
    expect(forgedPull.stderr).toMatch(
      new RegExp(`bundle ${latest.version} refused: .*; the bundle in use \\(${v1}\\) stays`),
    );
    expect(forgedPull.stderr).not.toMatch(/content_hash_mismatch/);

    // Segmentation still runs with bundle v1 and its task.
    const still = await segmentJson('m2.png');
    expect(still.bundleVersion).toBe(v1);
    expect(still.scores.map((s) => s.taskId)).toEqual([taskId]);

    // Untouched, the new bundle installs.
    proxy.hooks = {};
    expect((await agentA(['pull'])).stdout).toMatch(
      new RegExp(`installed bundle ${latest.version} \\(0 task\\(s\\).*previous ${v1} kept`),
    );
    expect((await segmentJson('m3.png')).bundleVersion).toBe(latest.version);

    // Altered on disk after installation: refused at load; the previous bundle is used.
    const bundles = join(homeA, 'bundles');
    const current = (
      JSON.parse(readFileSync(join(bundles, 'current.json'), 'utf8')) as { current: { file: string } }
    ).current.file;
    const bytes = readFileSync(join(bundles, current));
    bytes[bytes.length - 700] ^= 0x01;
    writeFileSync(join(bundles, current), bytes);
    const fallback = await segmentJson('m4.png');
    expect(fallback.stderr).toMatch(
      new RegExp(`bundle ${latest.version} \\(current\\) on disk fails verification, not using it`),
    );
    expect(fallback.stderr).toMatch(new RegExp(`using the previous bundle ${v1}`));
    expect(fallback.bundleVersion).toBe(v1);
    expect(fallback.scores.map((s) => s.taskId)).toEqual([taskId]);
  });

  it('a coordinator killed under connected daemons: they reconnect with backoff, no audit event lost, no duplicate', async () => {
    // Site A reinstalls the intact newest bundle; site B is new.
    rmSync(join(homeA, 'bundles'), { recursive: true, force: true });
    const { siteId: siteB } = await enrollApprovedSite(coord, homeB, agentB, { siteName: 'Aker', weights });
    const a = startAgentProcess(homeA, ['daemon']);
    const b = startAgentProcess(homeB, ['daemon']);
    daemons.push(a, b);
    const latest = await coord.admin<BundleDetail>('GET', '/api/v1/bundles/latest');
    for (const d of [a, b]) {
      await d.waitFor(/connected to the coordinator/);
      await d.waitFor(new RegExp(`installed bundle ${latest.version} \\(0 task`));
    }

    const audit = async () =>
      (await coord.admin<AuditEventListResponse>('GET', '/api/v1/audit-events?limit=1000')).events;
    const before = await audit();
    expect(before.length).toBeLessThan(1000);
    const killedAt = new Date();
    const marks = [a.output().length, b.output().length];
    await kill();
    await a.waitFor(/reconnecting in/, 30_000, marks[0]);
    await b.waitFor(/reconnecting in/, 30_000, marks[1]);
    await restart();
    // Right away, while the daemons are still backing off, an admin asks site B for a new key: B does it when
    // it is back (on connect, or at once if already connected) and reconnects on the new key.
    await coord.admin('POST', `/api/v1/sites/${siteB}/key-rotation-request`, {});
    await a.waitFor(/connected to the coordinator/, 90_000, marks[0]);
    const rotated = await b.waitFor(/site key rotated: \S+ → (\S+)/, 90_000, marks[1]);
    // …and connects again, on the new key.
    await b.waitFor(/connected to the coordinator/, 60_000, marks[1] + rotated.index + rotated[0].length);
    // Backoff between attempts, with the delay said.
    expect(a.output().slice(marks[0])).toMatch(/reconnecting in \d+\.\d s/);
    // On reconnect each catches up (nothing new: up to date) and stays put.
    for (const [i, d] of [a, b].entries()) expect(d.output().slice(marks[i])).not.toMatch(/installed bundle/);

    // Every event from before the kill is still there, unchanged; what happened while they reconnected is too.
    const key = (e: AuditEventView) => JSON.stringify(e);
    const after = await audit();
    const afterKeys = new Set(after.map(key));
    expect(before.filter((e) => !afterKeys.has(key(e)))).toEqual([]);
    const since = (action: string, site: string) =>
      after.filter((e) => e.action === action && e.siteId === site && new Date(e.at) >= killedAt);
    expect(since('site.key_rotation_requested', siteB)).toHaveLength(1);
    expect(since('site.key_rotated', siteB)).toHaveLength(1);
    await expect
      .poll(
        async () =>
          (await audit())
            .filter((e) => e.action === 'site.token_issued' && e.siteId === siteB)
            .some((e) => e.details['kid'] === rotated[1]),
        { timeout: 30_000 },
      )
      .toBe(true);

    // No duplicate adapter: the daemon's resume of unfinished uploads found none.
    const versions = await coord.admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${taskId}/adapters`);
    expect(versions.map((v) => v.id)).toEqual([adapterId]);
    expect(after.filter((e) => e.action === 'adapter.uploaded' && e.outcome === 'success')).toHaveLength(1);
    // Both report the bundle they run.
    for (const site of [siteA, siteB])
      await expect
        .poll(
          async () =>
            (
              await coord.admin<{ presence: { bundleVersion: number | null } }>(
                'GET',
                `/api/v1/sites/${site}`,
              )
            ).presence.bundleVersion,
          { timeout: 20_000 },
        )
        .toBe(latest.version);
  });
});
