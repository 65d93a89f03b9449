/**
 * `npm run demo` — a local federation on synthetic data, narrated: one coordinator (embedded database) and
 * three site agents, each a separate process with its own home, key and data (three of the nine synthetic
 * domains each, one task per domain). It walks enrollment and approval, task proposals, local training, weight
 * uploads, the signed bundle, every site pulling it, and then each site segmenting test images from the OTHER
 * sites' domains and from an unseen domain, with the routing decision and IoU per image and a summary per domain.
 *
 *   --full    more images and epochs (longer)
 *   --exit    stop after the summary instead of waiting for Ctrl-C
 *   --keep    keep the working folder (printed) after exit
 *   --json <file>  also write a machine-readable summary of the run there (what each step produced)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeImage, maskBoundingBox, splitRegions } from '@casam/casam-core';
import { DOMAIN_NAMES, UNSEEN_DOMAIN_NAMES, writeDomainFolder } from '@casam/casam-lab';
import { startCoordinatorProcess } from '@casam/coordinator/testing';
import type {
  AdapterVersionSummary,
  BundleDetail,
  CreatedEnrollmentToken,
  TaskSummary,
} from '@casam/protocol';
import { EXIT_CODES } from '@casam/protocol';

const USAGE = 'usage: npm run demo -- [--full] [--exit] [--keep] [--json <file>]';
let flags: { full?: boolean; exit?: boolean; keep?: boolean; json?: string };
try {
  flags = parseArgs({
    options: {
      full: { type: 'boolean' },
      exit: { type: 'boolean' },
      keep: { type: 'boolean' },
      json: { type: 'string' },
    },
    strict: true,
  }).values;
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(EXIT_CODES.usage);
}
if (flags.json !== undefined && (!flags.json || flags.json.startsWith('--'))) {
  console.error(`--json needs a file name\n${USAGE}`);
  process.exit(EXIT_CODES.usage);
}
const FULL = flags.full === true;
const EXIT = flags.exit === true;
const KEEP = flags.keep === true;
const JSON_OUT = flags.json ? resolve(flags.json) : '';
const root = resolve(__dirname, '..');
const AGENT = join(root, 'apps/site-agent/bin/site-agent.js');
const cfg = {
  images: FULL ? 40 : 16,
  size: FULL ? 256 : 160,
  epochs: FULL ? 4 : 2,
  maxImages: FULL ? 24 : 8,
  testPerDomain: FULL ? 6 : 3,
};

const t0 = Date.now();
const clock = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
const say = (s: string) => console.log(`\n${clock()} ▶ ${s}`);
const note = (s: string) => console.log(`         ${s}`);

const children = new Set<ChildProcess>();
let workDir = '';

/** Runs a command to completion; its output goes to a log file, the last lines are shown on failure. */
function run(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  stdin = '',
): Promise<string> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('close', (code) => {
      children.delete(c);
      writeFileSync(logFile, `$ ${args.join(' ')}\n${err}${out}\n`, { flag: 'a' });
      if (code === 0) res(out);
      else
        rej(
          new Error(
            `${args.slice(0, 3).join(' ')} exited ${code}:\n${(err + out).split('\n').slice(-12).join('\n')}`,
          ),
        );
    });
    c.stdin.end(stdin);
  });
}

/** The embedded default base model (models/casam-tiny, made by `npm run pretrain`). */
function baseModel(): { path: string; what: string } {
  const shipped = join(root, 'models/casam-tiny/casam-tiny.safetensors');
  if (!existsSync(shipped))
    throw new Error(
      `no casam-tiny weights at ${shipped}: restore them from git, or make them with npm run pretrain (models/casam-tiny/README.md)`,
    );
  return { path: shipped, what: 'the embedded casam-tiny (models/casam-tiny)' };
}

interface Site {
  name: string;
  home: string;
  log: string;
  domains: string[];
  siteId?: string;
  fingerprint?: string;
  serveUrl?: string;
  /** Per trained task: validation IoU against frozen SAM and box-fill, and the adapter version uploaded. */
  trained: {
    domain: string;
    validationIou: number;
    frozenIou: number;
    boxFillIou: number;
    uploaded: string;
  }[];
}

async function main(): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), 'casam-demo-'));
  console.log(`CA-SAM Federation demo${FULL ? ' (--full)' : ''}: working folder ${workDir}`);

  say('base model');
  const base = baseModel();
  note(`${base.what}: ${base.path}`);

  const domains = [...DOMAIN_NAMES];
  const unseen = UNSEEN_DOMAIN_NAMES[0];
  say(
    `synthetic data: ${domains.length} domains × ${cfg.images} images (${cfg.size} px), plus unseen ${unseen}`,
  );
  for (const d of [...domains, unseen])
    await writeDomainFolder(join(workDir, 'data', d), d, {
      count: cfg.images,
      size: cfg.size,
      seed: 1,
      preview: false,
    });

  say('coordinator: embedded database, first admin created with the CLI (no default password)');
  const coord = await startCoordinatorProcess({
    dataDir: join(workDir, 'coordinator'),
    env: { COORDINATOR_PORT: process.env['DEMO_PORT'] ?? '0' },
    adminEmail: 'admin@federation.example',
    adminPassword: `demo-${Math.random().toString(36).slice(2)}-${Date.now()}`,
    logFile: join(workDir, 'coordinator.log'),
    // the demo runs for minutes and may stay up for a look: its log is in the file
    keepLog: false,
  });
  children.add(coord.child);
  const { url, adminPassword: password } = coord;
  note(`listening on ${url}`);
  const login = await coord.adminSession();
  const admin = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    coord.admin<T>(method, path, body);
  note(`admin ${login.admin.email} logged in (token valid until ${login.expiresAt})`);

  const sites: Site[] = ['Oslo University Hospital', 'Karolinska', 'Charité'].map((name, i) => ({
    name,
    home: join(workDir, `site-${i + 1}`),
    log: join(workDir, `site-${i + 1}.log`),
    domains: domains.slice(i * 3, i * 3 + 3),
    trained: [],
  }));
  const agent = (s: Site, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    run(AGENT, args, { CASAM_AGENT_HOME: s.home, CASAM_BACKEND: 'wasm', ...extra }, s.log);

  say(
    'enrollment: each site makes its key, enrolls with a one-time token; the admin approves by fingerprint',
  );
  for (const s of sites) {
    const out = await agent(s, ['init', '--coordinator', url, '--site-name', s.name, '--weights', base.path]);
    s.fingerprint = /fingerprint: (\S+)/.exec(out)![1];
    const token = await admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', { label: s.name });
    await agent(s, ['enroll', '--token', token.token]);
    s.siteId = (JSON.parse(readFileSync(join(s.home, 'state.json'), 'utf8')) as { siteId: string }).siteId;
    await admin('POST', `/api/v1/sites/${s.siteId}/approve`, { keyFingerprint: s.fingerprint });
    note(`${s.name.padEnd(26)} key ${s.fingerprint}  → approved`);
  }

  say('each site ingests its three domains and proposes one task per domain; the admin approves them');
  await Promise.all(
    sites.map(async (s) => {
      for (const d of s.domains) {
        await agent(s, ['ingest', '--task', d, '--folder', join(workDir, 'data', d)]);
        await agent(s, ['propose', '--task', d]);
      }
    }),
  );
  const tasks = await admin<TaskSummary[]>('GET', '/api/v1/tasks?status=proposed');
  const approvedTasks: string[] = [];
  for (const t of tasks) {
    await admin('POST', `/api/v1/tasks/${t.id}/approve`);
    approvedTasks.push(t.name);
    note(`task ${t.name.padEnd(26)} (${t.modality}, ${t.targetStructures.join('+')}) approved`);
  }

  say(
    `local training at every site (embedding cache → Alignment Layer → VAE → τ; ${cfg.epochs} epochs, ≤ ${cfg.maxImages} images per task) and weight upload`,
  );
  await Promise.all(
    sites.map(async (s) => {
      for (const d of s.domains) {
        const out = await agent(
          s,
          [
            'train',
            '--task',
            d,
            '--epochs',
            String(cfg.epochs),
            '--max-images',
            String(cfg.maxImages),
            '--force',
          ],
          { CASAM_WASM_THREADS: '1' },
        );
        const m = /validation IoU (\S+) \(frozen SAM (\S+), box-fill (\S+)\)/.exec(out);
        note(
          `${s.name.padEnd(26)} ${d.padEnd(26)} validation IoU ${m?.[1]} (frozen SAM ${m?.[2]}, box-fill ${m?.[3]})`,
        );
        // Every task is federated so each site can show routing; train printed each adapter's verdict, and one
        // below frozen SAM needs --force (the demo trains on ≤ 8 images per task).
        const up = await agent(s, ['upload', '--task', d, '--force']);
        note(`${s.name.padEnd(26)} ${up.trim()}`);
        s.trained.push({
          domain: d,
          validationIou: Number(m?.[1]),
          frozenIou: Number(m?.[2]),
          boxFillIou: Number(m?.[3]),
          uploaded: up.trim(),
        });
      }
    }),
  );

  say(
    'the admin reviews and approves the uploaded adapters; the coordinator publishes a signed router bundle',
  );
  const approvedAdapters: { task: string; adapterVersionId: string; siteId: string; version: number }[] = [];
  for (const t of await admin<TaskSummary[]>('GET', '/api/v1/tasks?status=approved')) {
    const versions = await admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${t.id}/adapters`);
    const v = versions.find((a) => a.status === 'pending');
    if (v) {
      await admin('POST', `/api/v1/adapters/${v.id}/approve`);
      approvedAdapters.push({ task: t.name, adapterVersionId: v.id, siteId: v.siteId, version: v.version });
    }
  }
  const bundle = await admin<BundleDetail>('GET', '/api/v1/bundles/latest');
  note(
    `bundle ${bundle.version}: ${bundle.manifest.tasks.length} tasks, ${(bundle.size / 2 ** 20).toFixed(1)} MiB, signed by ${bundle.kid}`,
  );

  say(
    'every site pulls the bundle (verified against the key pinned at enrollment, every adapter hash checked)',
  );
  const pulled: { site: string; output: string; bundleVersion: number | null; contentHash: string | null }[] =
    [];
  for (const s of sites) {
    const out = (await agent(s, ['pull'])).trim();
    note(`${s.name.padEnd(26)} ${out}`);
    // What the site now runs, from its own bundle store.
    const pointer = join(s.home, 'bundles', 'current.json');
    const current = existsSync(pointer)
      ? (
          JSON.parse(readFileSync(pointer, 'utf8')) as {
            current: { version: number; contentHash: string } | null;
          }
        ).current
      : null;
    pulled.push({
      site: s.name,
      output: out,
      bundleVersion: current?.version ?? null,
      contentHash: current?.contentHash ?? null,
    });
  }

  say("each site segments images from the OTHER sites' domains and from an unseen domain (box prompts)");
  // A reference home with the same base model and no bundle: plain frozen SAM.
  const reference: Site = {
    name: 'frozen SAM (reference)',
    home: join(workDir, 'reference'),
    log: join(workDir, 'reference.log'),
    domains: [],
    trained: [],
  };
  await agent(reference, ['init', '--coordinator', url, '--site-name', 'reference', '--weights', base.path]);
  const servers: ChildProcess[] = [];
  for (const s of [...sites, reference]) {
    const c = spawn(process.execPath, [AGENT, 'serve', '--port', '0'], {
      env: { ...process.env, CASAM_AGENT_HOME: s.home, CASAM_BACKEND: 'wasm', CASAM_WASM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(c);
    servers.push(c);
    let out = '';
    s.serveUrl = await new Promise<string>((res, rej) => {
      c.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m) res(m[1]);
      });
      c.stderr.on('data', (d: Buffer) => writeFileSync(s.log, d, { flag: 'a' }));
      c.once('exit', () => rej(new Error(`serve exited for ${s.name}`)));
    });
  }

  interface Row {
    domain: string;
    images: number;
    frozen: number;
    routed: number;
    correct: number;
    fallback: number;
  }
  const rows = new Map<string, Row>();
  const segmentVia = async (serveUrl: string, png: Buffer, box: number[]) => {
    const r = await fetch(`${serveUrl}/v1/segment?box=${box.join(',')}`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    if (!r.ok) throw new Error(`segment: ${r.status} ${await r.text()}`);
    return (await r.json()) as {
      decision: string;
      taskName: string | null;
      score: number | null;
      tau: number | null;
      maskPng: string;
    };
  };
  let printed = 0;
  for (const s of sites) {
    const testDomains = [...domains.filter((d) => !s.domains.includes(d)), unseen];
    for (const d of testDomains) {
      const manifest = JSON.parse(readFileSync(join(workDir, 'data', d, 'manifest.json'), 'utf8')) as {
        items: { image: string; split: string; masks: { path: string }[] }[];
      };
      const items = manifest.items.filter((i) => i.split === 'test').slice(0, cfg.testPerDomain);
      for (const it of items) {
        const png = readFileSync(join(workDir, 'data', d, it.image));
        const gt = decodeImage(readFileSync(join(workDir, 'data', d, it.masks[0].path)));
        const classMask = new Uint8Array(gt.width * gt.height).map((_, i) => (gt.data[i * 3] > 0 ? 1 : 0));
        // One box per region as the trainer evaluates: the class's largest connected component.
        const area = (m: Uint8Array): number => m.reduce((n, v) => n + v, 0);
        const gtMask =
          splitRegions([{ classId: 'first', mask: classMask }], gt.width, gt.height)
            .map((r) => r.mask)
            .reduce<Uint8Array | null>((a, b) => (a === null || area(b) > area(a) ? b : a), null) ??
          classMask;
        // The trainer's own tight box (inclusive corners: the extreme foreground pixels), as serve takes it.
        const box = maskBoundingBox({ mask: gtMask, width: gt.width, height: gt.height });
        if (!box) continue;
        const iou = (maskPng: string) => {
          const m = decodeImage(new Uint8Array(Buffer.from(maskPng, 'base64')));
          let inter = 0,
            uni = 0;
          for (let i = 0; i < gtMask.length; i++) {
            const a = m.data[i * 3] > 0 ? 1 : 0;
            inter += a & gtMask[i];
            uni += a | gtMask[i];
          }
          return uni ? inter / uni : 1;
        };
        const routed = await segmentVia(s.serveUrl!, png, box);
        const frozen = await segmentVia(reference.serveUrl!, png, box);
        const r = rows.get(d) ?? { domain: d, images: 0, frozen: 0, routed: 0, correct: 0, fallback: 0 };
        const ri = iou(routed.maskPng);
        const fi = iou(frozen.maskPng);
        r.images++;
        r.routed += ri;
        r.frozen += fi;
        if (routed.decision === 'fallback') r.fallback++;
        if (routed.decision === 'task' && routed.taskName === d) r.correct++;
        rows.set(d, r);
        if (printed++ < (FULL ? 1000 : 24))
          note(
            `${s.name.slice(0, 12).padEnd(12)} ${d.padEnd(26)} → ${routed.decision === 'task' ? `task ${routed.taskName}`.padEnd(31) : 'fallback to frozen SAM'.padEnd(31)} IoU ${ri.toFixed(3)} (frozen ${fi.toFixed(3)})`,
          );
      }
    }
  }
  if (printed > 24 && !FULL) note(`… ${printed - 24} more images`);

  say('summary per domain (test images segmented at the sites that did NOT train on that domain)');
  const header = `${'domain'.padEnd(26)} ${'images'.padStart(6)} ${'frozen IoU'.padStart(10)} ${'routed IoU'.padStart(10)} ${'routed ok'.padStart(9)} ${'fallback'.padStart(8)}`;
  console.log(`\n${header}\n${'-'.repeat(header.length)}`);
  for (const r of rows.values()) {
    const seen = r.domain !== unseen;
    console.log(
      `${(r.domain + (seen ? '' : ' (unseen)')).padEnd(26)} ${String(r.images).padStart(6)} ${(r.frozen / r.images).toFixed(3).padStart(10)} ${(r.routed / r.images).toFixed(3).padStart(10)} ${(seen ? `${((100 * r.correct) / r.images).toFixed(0)}%` : '—').padStart(9)} ${`${((100 * r.fallback) / r.images).toFixed(0)}%`.padStart(8)}`,
    );
  }
  console.log(
    `\nrouted ok = routed to the task trained on that domain; on the unseen domain the right answer is fallback.\n` +
      `Base model: ${base.what}.\nDone in ${clock().trim()}. Logs: ${workDir}/*.log`,
  );
  console.log(
    `\nCoordinator API: ${url}/api/docs (OpenAPI at ${url}/api/openapi.json); admin ${login.admin.email}, password ${password}`,
  );
  console.log(`Admin web UI: ${url}/admin/`);
  for (const c of servers) c.kill('SIGTERM');
  if (JSON_OUT) {
    const siteRecords = await admin<{ id: string; name: string; status: string }[]>('GET', '/api/v1/sites');
    const summary = {
      demo: 'federation',
      full: FULL,
      baseModel: base.what,
      coordinator: url,
      sites: sites.map((s) => ({
        name: s.name,
        siteId: s.siteId,
        fingerprint: s.fingerprint,
        status: siteRecords.find((r) => r.id === s.siteId)?.status ?? null,
        domains: s.domains,
        trained: s.trained,
        bundle: pulled.find((p) => p.site === s.name) ?? null,
      })),
      tasks: {
        approved: approvedTasks,
        onCoordinator: (await admin<TaskSummary[]>('GET', '/api/v1/tasks?status=approved')).map(
          (t) => t.name,
        ),
      },
      adapters: { approved: approvedAdapters },
      bundle: {
        version: bundle.version,
        tasks: bundle.manifest.tasks.length,
        bytes: bundle.size,
        kid: bundle.kid,
        contentHash: bundle.contentHash,
      },
      segmentation: {
        unseenDomain: unseen,
        perDomain: [...rows.values()].map((r) => ({
          domain: r.domain,
          unseen: r.domain === unseen,
          images: r.images,
          frozenIou: r.frozen / r.images,
          routedIou: r.routed / r.images,
          routedToOwnTask: r.correct / r.images,
          fallback: r.fallback / r.images,
        })),
      },
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    mkdirSync(dirname(JSON_OUT), { recursive: true });
    writeFileSync(JSON_OUT, JSON.stringify(summary, null, 2) + '\n');
    console.log(`\nsummary written to ${JSON_OUT}`);
  }
  if (EXIT) return;
  console.log('\nThe coordinator keeps running for a look; Ctrl-C stops everything.');
  await new Promise<void>((r) => process.once('SIGINT', () => r()));
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  if (workDir && !KEEP) setTimeout(() => rmSync(workDir, { recursive: true, force: true }), 500).unref();
}

main().then(
  () => {
    cleanup();
    setTimeout(() => process.exit(EXIT_CODES.ok), 1000);
  },
  (e) => {
    console.error(`\ndemo failed: ${(e as Error).message}`);
    console.error(`logs kept in ${workDir}`);
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    process.exit(EXIT_CODES.internal);
  },
);
