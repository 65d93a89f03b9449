/**
 * `npm run bench:coordinator` (runs under the coordinator's SWC require hook: NestJS needs decorator metadata; tsx's
 * CommonJS hook goes first only to load the ES-module files of TF.js that casam-core pulls in) —
 * what the coordinator costs at federation scale. Prints tables and writes
 * bench/results/coordinator.json.
 *
 *   bundle build   time to build, sign and store the router bundle for 1, 10 and 100 tasks, with adapter files of
 *                  the real sizes of the casam-tiny preset (C = 64) and of vit_b (C = 256, ~14 MB each). The
 *                  builder runs in this process on an embedded database and a file-system blob store (the
 *                  adapters are seeded as approved rows, as the upload module leaves them).
 *   uploads        adapter upload throughput (MB/s of adapter bytes, chunked 1 MiB, validated and stored) with 1
 *                  and with 20 sites uploading at once, against a real coordinator process over HTTP. Each site is
 *                  enrolled, approved and holds an approved task; each uploads one vit_b-sized adapter.
 *   fan-out        1,000 socket.io clients connected to that process; a bundle is published; the time from the
 *                  coordinator's announcement (`announcedAt`) to each client's receipt, p50/p99/max.
 *   memory         the coordinator process's peak RSS (VmHWM) over the upload and fan-out runs.
 *
 * Flags: --quick (1 and 10 tasks, tiny only for builds; 5 concurrent sites; 200 clients) for a fast check; --help.
 *
 * `--replicas N` (2 ≤ N ≤ 8) measures only the fan-out, on a throwaway Postgres cluster (initdb/pg_ctl on PATH): the
 * same 1,000 sockets (200 with --quick) first all on one coordinator process on that database, then spread
 * round-robin over N replica processes sharing it (Postgres socket.io adapter); the bundle is built on the first
 * replica. Both figures are added to the result file under `fanoutReplicas`; its other results are kept.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import 'reflect-metadata';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, SignJWT } from 'jose';
import { io, type Socket } from 'socket.io-client';
import {
  ADAPTER_UPLOAD_AUDIENCE,
  type BundlePublishedEvent,
  CHUNK_SHA256_HEADER,
  type CreatedEnrollmentToken,
  type CompleteUploadResponse,
  type EnrollSiteResponse,
  PROTOCOL_VERSION,
  REALTIME_NAMESPACE,
  SITE_TOKEN_AUDIENCE,
  type TaskSummary,
  type UploadSessionResponse,
} from '@casam/protocol';
import { writeAdapterFile } from '@casam/casam-core';
import { zeroAdapterStateDicts } from '@casam/casam-core/testing';
import {
  failUsage,
  LoadCheckpoints,
  type MachineInfo,
  machineInfo,
  machineSummary,
  numberFlag,
  parseCliArgs,
} from '@casam/casam-lab';
import {
  BlobRepository,
  BlobStore,
  BundleBuilderService,
  createCoordinatorApp,
  EmbeddedDatabase,
  FsBlobStore,
  migrateDeploy,
  parseConfig,
  seedAdapter,
  seedAdminAndSite,
  seedTask,
} from '@casam/coordinator/testing/in-process';
import {
  createPostgresDatabase,
  postgresBinariesAvailable,
  startCoordinatorProcess,
  startPostgresCluster,
} from '@casam/coordinator/testing';

const USAGE = `usage: npm run bench:coordinator -- [options]
  --quick         1 and 10 tasks (tiny only) for builds, 5 concurrent sites, 200 clients: a fast check
  --replicas N    measure only the fan-out, on one process and then over N replicas (2 to 8) sharing a
                  throwaway Postgres cluster; added to the result file under fanoutReplicas
  --help, -h      print this text`;

const { QUICK, REPLICAS } = ((): { QUICK: boolean; REPLICAS: number | null } => {
  const v = parseCliArgs(USAGE, {
    quick: { type: 'boolean', default: false },
    replicas: { type: 'string' },
  });
  try {
    return {
      QUICK: v.quick,
      REPLICAS: numberFlag('replicas', v.replicas, { integer: true, min: 2, max: 8 }) ?? null,
    };
  } catch (e) {
    return failUsage(e, USAGE);
  }
})();
const FP = `sha256:${'ab'.repeat(32)}`;

const log = (s: string) => process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Bytes of a real adapter file for `channels` (zero weights: the size is what matters). */
function adapterFile(channels: number, taskId: string, preset: string): Uint8Array {
  const { align, vae } = zeroAdapterStateDicts(channels);
  return writeAdapterFile({
    taskId,
    baseModel: { preset, fingerprint: FP },
    tau: { tau: 1, p95: 1, p99: 1.2, mean: 0.5, std: 0.2, n: 100, percentile: 97 },
    metrics: { iou: 0.8 },
    align,
    vae,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Bundle builds (in process)
// ---------------------------------------------------------------------------------------------------------

interface BuildRow {
  preset: string;
  channels: number;
  tasks: number;
  adapterMB: number;
  bundleMB: number;
  buildSeconds: number;
}

async function benchBundleBuild(preset: string, channels: number, tasks: number): Promise<BuildRow> {
  const dir = mkdtempSync(join(tmpdir(), 'casam-bench-bundle-'));
  const db = await EmbeddedDatabase.open({ dataDir: join(dir, 'db') });
  try {
    await migrateDeploy(db.sql);
    const blobStore = await FsBlobStore.open(join(dir, 'blobs'));
    const config = parseConfig({ COORDINATOR_DATA_DIR: dir, COORDINATOR_PORT: '0' }, dir);
    const app = await createCoordinatorApp({
      config,
      database: db,
      blobStore,
      secret: new Uint8Array(32).fill(5),
    });
    await app.init();
    try {
      const size = adapterFile(channels, 'x', preset).byteLength;
      const blobs = app.get(BlobRepository);
      const store = app.get(BlobStore);
      const { adminId, siteId } = await seedAdminAndSite(db, 'bench');
      for (let i = 0; i < tasks; i++) {
        const taskId = await seedTask(db, { siteId, adminId, name: `task-${i}` });
        await seedAdapter(db, store, blobs, { taskId, siteId, adminId, version: 1, size, seed: i });
      }
      const t0 = performance.now();
      const r = await app.get(BundleBuilderService).reconcile({ reason: 'manual', adminId });
      const seconds = (performance.now() - t0) / 1000;
      const latest = await db.prisma.routerBundle.findFirst({
        orderBy: { version: 'desc' },
        include: { content: true },
      });
      if (!latest || !r) throw new Error('no bundle was built');
      return {
        preset,
        channels,
        tasks,
        adapterMB: round(size / 2 ** 20, 2),
        bundleMB: round(Number(latest.content.size) / 2 ** 20, 1),
        buildSeconds: round(seconds, 3),
      };
    } finally {
      await app.close();
    }
  } finally {
    await db.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// A real coordinator process
// ---------------------------------------------------------------------------------------------------------

interface Coordinator {
  url: string;
  pid: number;
  /** The admin's bearer token. */
  admin: string;
  stop(): Promise<void>;
}

/** A replica of a set sharing one Postgres database (and secret); the first one creates the admin. */
interface Shared {
  databaseUrl: string;
  secret: string;
  password: string;
  createAdmin: boolean;
}

async function startCoordinator(shared?: Shared): Promise<Coordinator> {
  const proc = await startCoordinatorProcess({
    env: {
      COORDINATOR_LOG_LEVEL: 'log',
      COORDINATOR_AUTH_RATE_PER_MINUTE: '100000',
      COORDINATOR_AUTH_RATE_BURST: '100000',
      ...(shared ? { COORDINATOR_SECRET: shared.secret, COORDINATOR_BLOB_STORE: 'postgres' } : {}),
    },
    databaseUrl: shared?.databaseUrl,
    adminEmail: 'ops@example.org',
    adminPassword: shared?.password,
    createAdmin: !shared || shared.createAdmin,
    nodeArgs: ['--max-old-space-size=4096'],
    // thousands of requests are logged: keep none of it in this process
    keepLog: false,
  });
  return { url: proc.url, pid: proc.child.pid!, admin: await proc.adminToken(), stop: () => proc.stop() };
}

/** Peak resident set (VmHWM) of a process, in MiB (Linux). */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round(Number(m[1]) / 1024, 0) : NaN;
}

async function call<T>(
  c: Coordinator,
  method: string,
  path: string,
  body?: unknown,
  token = c.admin,
): Promise<T> {
  const r = await fetch(`${c.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'x-casam-protocol': PROTOCOL_VERSION,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface BenchSite {
  siteId: string;
  kid: string;
  privateKey: CryptoKey;
  token: string;
  taskId: string;
}

/** Enrolls, approves and authenticates one site and gives it an approved task (all over HTTP). */
async function makeSite(c: Coordinator, i: number, preset: string): Promise<BenchSite> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const t = await call<CreatedEnrollmentToken>(c, 'POST', '/api/v1/enrollment-tokens', {
    label: `bench ${i}`,
  });
  const e = await call<EnrollSiteResponse>(c, 'POST', '/api/v1/sites/enroll', {
    enrollmentToken: t.token,
    siteName: `bench-site-${i}`,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
  });
  await call(c, 'POST', `/api/v1/sites/${e.siteId}/approve`, { keyFingerprint: kid });
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid })
    .setIssuer(e.siteId)
    .setSubject(e.siteId)
    .setAudience(SITE_TOKEN_AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .sign(privateKey);
  const tok = await call<{ accessToken: string }>(c, 'POST', '/api/v1/auth/site-token', { assertion });
  const task = await call<TaskSummary>(
    c,
    'POST',
    '/api/v1/tasks',
    {
      name: `bench-task-${i}`,
      modality: 'CT',
      targetStructures: ['liver'],
      baseModel: { preset, fingerprint: FP },
    },
    tok.accessToken,
  );
  await call(c, 'POST', `/api/v1/tasks/${task.id}/approve`);
  return { siteId: e.siteId, kid, privateKey, token: tok.accessToken, taskId: task.id };
}

/** One complete chunked upload of `bytes` for the site's task. */
async function upload(
  c: Coordinator,
  s: BenchSite,
  bytes: Uint8Array,
  chunkSize: number,
): Promise<CompleteUploadResponse> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const session = await call<UploadSessionResponse>(
    c,
    'POST',
    '/api/v1/uploads',
    { taskId: s.taskId, totalSize: bytes.byteLength, sha256, chunkSize },
    s.token,
  );
  for (let i = 0; i < session.chunkCount; i++) {
    const chunk = bytes.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, bytes.byteLength));
    const r = await fetch(`${c.url}/api/v1/uploads/${session.uploadId}/chunks/${i}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${s.token}`,
        'content-type': 'application/octet-stream',
        [CHUNK_SHA256_HEADER]: createHash('sha256').update(chunk).digest('hex'),
      },
      body: chunk,
    });
    if (!r.ok) throw new Error(`chunk ${i}: ${r.status} ${await r.text()}`);
  }
  const now = Math.floor(Date.now() / 1000);
  const signature = await new SignJWT({
    uploadId: session.uploadId,
    taskId: s.taskId,
    sha256,
    size: bytes.byteLength,
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: s.kid })
    .setSubject(s.siteId)
    .setAudience(ADAPTER_UPLOAD_AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(s.privateKey);
  return call<CompleteUploadResponse>(
    c,
    'POST',
    `/api/v1/uploads/${session.uploadId}/complete`,
    { signature },
    s.token,
  );
}

interface UploadRow {
  sites: number;
  adapterMB: number;
  totalMB: number;
  seconds: number;
  mbPerSecond: number;
  perSiteSecondsP50: number;
  perSiteSecondsMax: number;
}

async function benchUploads(
  c: Coordinator,
  sites: BenchSite[],
  channels: number,
  preset: string,
): Promise<UploadRow> {
  const files = sites.map((s) => adapterFile(channels, s.taskId, preset));
  const t0 = performance.now();
  const per = await Promise.all(
    sites.map(async (s, i) => {
      const a = performance.now();
      const done = await upload(c, s, files[i], 1024 * 1024);
      if (done.upload.status !== 'completed')
        throw new Error(`upload of site ${i} ended ${done.upload.status}`);
      return (performance.now() - a) / 1000;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const total = files.reduce((n, f) => n + f.byteLength, 0) / 2 ** 20;
  return {
    sites: sites.length,
    adapterMB: round(files[0].byteLength / 2 ** 20, 2),
    totalMB: round(total, 1),
    seconds: round(seconds, 2),
    mbPerSecond: round(total / seconds, 1),
    perSiteSecondsP50: round(pct(per, 50), 2),
    perSiteSecondsMax: round(Math.max(...per), 2),
  };
}

interface FanoutRow {
  clients: number;
  connectSeconds: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** `clients` sockets spread round-robin over `targets` (one coordinator, or replicas sharing a database). */
async function benchFanout(
  targets: Coordinator[],
  clients: number,
  trigger: () => Promise<void>,
): Promise<FanoutRow> {
  const sockets: Socket[] = [];
  const t0 = performance.now();
  for (let i = 0; i < clients; i += 100) {
    const batch = Array.from({ length: Math.min(100, clients - i) }, (_, j) => {
      const c = targets[(i + j) % targets.length];
      const viewer = c.admin;
      const s = io(`${c.url}${REALTIME_NAMESPACE}`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: viewer, protocolVersion: PROTOCOL_VERSION },
      });
      sockets.push(s);
      return new Promise<void>((res, rej) => {
        s.once('connect', () => res());
        s.once('connect_error', (e) => rej(e));
      });
    });
    await Promise.all(batch);
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  log(`  ${clients} sockets connected in ${round(connectSeconds, 1)} s`);
  const latencies: number[] = [];
  const all = new Promise<void>((res) => {
    let n = 0;
    for (const s of sockets)
      s.once('bundle.published', (e: BundlePublishedEvent) => {
        latencies.push(Date.now() - Date.parse(e.announcedAt));
        if (++n === clients) res();
      });
  });
  await trigger();
  await Promise.race([all, new Promise((r) => setTimeout(r, 60_000))]);
  for (const s of sockets) s.disconnect();
  return {
    clients,
    connectSeconds: round(connectSeconds, 2),
    received: latencies.length,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    maxMs: Math.max(...latencies),
  };
}

// ---------------------------------------------------------------------------------------------------------

interface ReplicaFanout {
  date: string;
  database: 'postgres';
  machine: MachineInfo;
  /** All sockets on one coordinator process on the Postgres database. */
  singleReplica: FanoutRow;
  /** The same number of sockets spread over `replicas` processes; the bundle is built on the first. */
  replicas: number;
  spread: FanoutRow & { socketsPerReplica: number[] };
  /** Every round; the two rows above are their medians, field by field. */
  rounds: { singleReplica: FanoutRow[]; spread: FanoutRow[] };
  notes: string[];
}

/** Rounds of each fan-out measurement with --replicas (the machine is shared: one round is noise). */
const ROUNDS = 3;

/** Field-by-field median of fan-out rounds. */
function medianRow(rows: FanoutRow[]): FanoutRow {
  const m = (k: keyof FanoutRow) =>
    pct(
      rows.map((r) => r[k]),
      50,
    );
  return {
    clients: m('clients'),
    connectSeconds: m('connectSeconds'),
    received: Math.min(...rows.map((r) => r.received)),
    p50Ms: m('p50Ms'),
    p99Ms: m('p99Ms'),
    maxMs: m('maxMs'),
  };
}

/** `--replicas N`: the fan-out on one process, then spread over N replicas of one Postgres database. */
async function benchReplicas(n: number): Promise<ReplicaFanout> {
  if (!postgresBinariesAvailable())
    throw new Error('--replicas needs initdb and pg_ctl on PATH (Postgres 15)');
  const load = new LoadCheckpoints();
  const cluster = await startPostgresCluster();
  const coords: Coordinator[] = [];
  try {
    const shared: Shared = {
      databaseUrl: await createPostgresDatabase(cluster.url('postgres'), 'casam_bench'),
      secret: createHash('sha256').update(randomUUID()).digest('hex'),
      password: `pw-${randomUUID()}`,
      createAdmin: true,
    };
    const start = async () => {
      const c = await startCoordinator(shared);
      shared.createAdmin = false;
      coords.push(c);
      return c;
    };
    const first = await start();
    log(`enrolling a site and uploading ${2 * ROUNDS} casam-tiny adapters…`);
    const site = await makeSite(first, 0, 'casam-tiny');
    const adapters: string[] = [];
    for (let i = 0; i < 2 * ROUNDS; i++)
      adapters.push(
        (await upload(first, site, adapterFile(64, site.taskId, 'casam-tiny'), 1024 * 1024)).adapter.id,
      );
    // each approval publishes a bundle (the task's newest approved adapter changes)
    const approve = (id: string) => async () =>
      void (await call(first, 'POST', `/api/v1/adapters/${id}/approve`));
    const clients = QUICK ? 200 : 1000;
    const singleRounds: FanoutRow[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`fan-out to ${clients} sockets on one coordinator (Postgres), round ${r + 1}/${ROUNDS}…`);
      singleRounds.push(await benchFanout([first], clients, approve(adapters[r])));
    }
    console.table(singleRounds);
    for (let i = 1; i < n; i++) await start();
    const spreadRounds: FanoutRow[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`fan-out to ${clients} sockets over ${n} replicas, round ${r + 1}/${ROUNDS}…`);
      spreadRounds.push(await benchFanout(coords, clients, approve(adapters[ROUNDS + r])));
    }
    console.table(spreadRounds);
    load.mark('end');
    const single = medianRow(singleRounds);
    const spread = medianRow(spreadRounds);
    return {
      date: new Date().toISOString(),
      database: 'postgres',
      machine: machineInfo({ load }),
      singleReplica: single,
      replicas: n,
      spread: {
        ...spread,
        socketsPerReplica: coords.map((_, i) => Math.ceil((clients - i) / coords.length)),
      },
      rounds: { singleReplica: singleRounds, spread: spreadRounds },
      notes: [
        'Throwaway Postgres 15 cluster on the same machine; coordinator processes with the Postgres blob store and the socket.io Postgres adapter.',
        'Sockets are admin sockets spread round-robin; the bundle is built by replica 1, so the other replicas hear of it through NOTIFY.',
        `Each figure is the median of ${ROUNDS} rounds (every round kept under rounds); received is the smallest count of any round.`,
        'Latency from the coordinator-stamped announcedAt to receipt, one clock. Every process (replicas, Postgres, 1,000 clients) shares one 2-core machine with other jobs (see loadavgAtStart): the replicas compete for the same cores, and the other replica hears of the bundle through one NOTIFY hop. On separate hosts each replica would bring its own cores.',
      ],
    };
  } finally {
    for (const c of coords) await c.stop();
    cluster.stop();
  }
}

/** The result file as it is ({} when there is none yet). */
function readResult(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
}

async function mainReplicas(n: number): Promise<void> {
  const started = Date.now();
  log(`bench:coordinator --replicas ${n}${QUICK ? ' --quick' : ''} on ${machineSummary()}`);
  const fanoutReplicas = await benchReplicas(n);
  const out = join(resolve(__dirname, 'results'), QUICK ? 'coordinator.quick.json' : 'coordinator.json');
  const previous = readResult(out);
  mkdirSync(resolve(__dirname, 'results'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify({ benchmark: 'coordinator', ...previous, fanoutReplicas }, null, 2) + '\n',
  );
  console.log(`\nadded fanoutReplicas to ${out} (${Math.round((Date.now() - started) / 1000)} s)`);
}

async function main(): Promise<void> {
  if (REPLICAS !== null) return mainReplicas(REPLICAS);
  const started = Date.now();
  const load = new LoadCheckpoints();
  log(`bench:coordinator${QUICK ? ' --quick' : ''} on ${machineSummary()}`);

  const builds: BuildRow[] = [];
  const buildCells: [string, number][] = QUICK
    ? [['casam-tiny', 64]]
    : [
        ['casam-tiny', 64],
        ['vit_b', 256],
      ];
  for (const [preset, channels] of buildCells)
    for (const n of QUICK ? [1, 10] : [1, 10, 100]) {
      log(`bundle build: ${n} task(s) at ${preset} size…`);
      builds.push(await benchBundleBuild(preset, channels, n));
    }
  console.log('\nRouter bundle build (build + sign + store, in process, embedded database, fs blobs)');
  console.table(builds);

  const coord = await startCoordinator();
  const uploads: UploadRow[] = [];
  let fanout: FanoutRow;
  let peakRss: number;
  try {
    const concurrent = QUICK ? 5 : 20;
    log(`enrolling ${concurrent + 1} sites…`);
    const sites: BenchSite[] = [];
    for (let i = 0; i <= concurrent; i++) sites.push(await makeSite(coord, i, 'vit_b'));
    log('uploads: 1 site…');
    uploads.push(await benchUploads(coord, sites.slice(0, 1), 256, 'vit_b'));
    log(`uploads: ${concurrent} sites at once…`);
    uploads.push(await benchUploads(coord, sites.slice(1), 256, 'vit_b'));
    console.log(
      '\nAdapter upload throughput (vit_b-sized adapters, 1 MiB chunks, validated + stored; real process over HTTP)',
    );
    console.table(uploads);

    const clients = QUICK ? 200 : 1000;
    log(`fan-out to ${clients} sockets…`);
    fanout = await benchFanout([coord], clients, async () => {
      // Approving an adapter publishes a bundle with its task.
      const list = await call<{ id: string }[]>(coord, 'GET', `/api/v1/tasks/${sites[0].taskId}/adapters`);
      await call(coord, 'POST', `/api/v1/adapters/${list[0].id}/approve`);
    });
    console.log('\nbundle.published fan-out (announcement → receipt, one machine)');
    console.table([fanout]);
    peakRss = peakRssMiB(coord.pid);
  } finally {
    await coord.stop();
  }
  console.log(`\ncoordinator peak RSS (VmHWM) over uploads and fan-out: ${peakRss} MiB`);

  load.mark('end');
  const result = {
    benchmark: 'coordinator',
    quick: QUICK,
    date: new Date().toISOString(),
    machine: machineInfo({ load }),
    notes: [
      'Bundle builds run in the benchmark process (embedded PGlite, fs blob store) so that build time is isolated from HTTP.',
      'Uploads and fan-out run against a real coordinator process (embedded PGlite) on the same 2-core machine as the clients.',
      'Fan-out latency is measured from the coordinator-stamped announcedAt of bundle.published to receipt, same clock.',
      'Another long job (model pretraining) may share the machine: compare runs on an idle machine before drawing conclusions.',
    ],
    bundleBuild: builds,
    uploads,
    fanout: fanout!,
    coordinatorPeakRssMiB: peakRss!,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const outDir = resolve(__dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, QUICK ? 'coordinator.quick.json' : 'coordinator.json');
  // keep the figures of an earlier `--replicas` run (this run does not measure them)
  const kept = readResult(out)['fanoutReplicas'];
  writeFileSync(
    out,
    JSON.stringify({ ...result, ...(kept ? { fanoutReplicas: kept } : {}) }, null, 2) + '\n',
  );
  console.log(`\nwrote ${out} (${result.seconds} s)`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
