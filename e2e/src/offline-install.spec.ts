/**
 * The offline install as hospital IT does it (docs/operations.md, "Install without internet"), with real
 * processes throughout: both apps packed into one folder by scripts/pack-offline.ts, installed by the real
 * install.sh on a "machine" with no network (npm offline with an empty cache and an unreachable registry),
 * the commands run from PATH as non-root service users with fresh state folders, a site enrolled at the installed
 * coordinator with a trained task and a pulled bundle, then upgraded to a re-versioned bundle whose old version
 * is deleted, with nothing lost.
 *
 * The service-user test needs root (install.sh creates throwaway system users, commands run through runuser and
 * setpriv; the users are removed afterwards); without root it is skipped and says why. Nothing is written outside
 * a temporary folder except those users.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_FILE, DEFAULT_PRESET, decodeImage } from '@casam/casam-core';
import { writeDomainFolder } from '@casam/casam-lab';
// Test-only helper (not part of casam-core's public API, so imported by path within the package).
import { fixturePath } from '@casam/casam-core/testing';
import type { CreatedEnrollmentToken } from '@casam/protocol';
// The re-versioned release is sealed by the packer's own code (in the lab, shared with scripts/pack-offline.ts).
import { sealBundle } from '@casam/casam-lab';
import { adminLogin, freePort } from './support/coordinator-process';
import { writeTinyBaseModel } from './support/site-setup';
import { runProcess as run } from './support/site-agent-cli';

const ROOT = resolve(__dirname, '../..');
const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** Why the service-user test cannot run here, or null. */
function serviceUserSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root: install.sh cannot create the service users';
  for (const tool of ['useradd', 'userdel', 'runuser', 'setpriv'])
    if (spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`]).status !== 0)
      return `${tool} is not installed`;
  return null;
}

async function pack(args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const r = await run(
    process.execPath,
    [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/pack-offline.ts', ...args],
    { cwd: ROOT, env: { ...process.env, INIT_CWD: ROOT, ...env } },
  );
  if (r.code !== 0) throw new Error(`pack ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
}

interface Manifest {
  name: string;
  command: string;
  version: string;
  sourceDate: string;
  packages: Record<string, string>;
  model?: { preset: string; file: string; sha256: string };
  files: number;
  filesSha256: string;
}

const manifestOf = (folder: string, archive: string) =>
  JSON.parse(readFileSync(join(folder, archive.replace(/\.tar\.gz$/, '.manifest.json')), 'utf8')) as Manifest;

/**
 * The next release of the site agent, made from `archive` as a build of a later commit would differ: another
 * version (in the manifest and the agent's own version string) and another default base model. Sealed by the
 * same code as a real bundle, into `out`.
 */
async function reversionedSiteAgent(
  from: string,
  archive: string,
  out: string,
  version: string,
  model: string,
): Promise<string> {
  const stageRoot = mkdtempSync(join(tmpdir(), 'casam-e2e-reversion-'));
  try {
    const r = await run('tar', ['-xzf', join(from, archive), '-C', stageRoot]);
    if (r.code !== 0) throw new Error(r.stderr);
    const old = readdirSync(stageRoot)[0]!;
    const manifest = JSON.parse(readFileSync(join(stageRoot, old, 'manifest.json'), 'utf8')) as Manifest;
    const name = old.replace(manifest.version, version);
    renameSync(join(stageRoot, old), join(stageRoot, name));
    const stage = join(stageRoot, name);
    const versionTs = join(stage, 'apps/site-agent/src/version.ts');
    writeFileSync(
      versionTs,
      readFileSync(versionTs, 'utf8').replace(/AGENT_VERSION = '[^']+'/, `AGENT_VERSION = '${version}'`),
    );
    cpSync(model, join(stage, manifest.model!.file));
    const { files: _files, filesSha256: _sum, ...base } = manifest;
    await sealBundle({
      stageRoot,
      name,
      out,
      epoch: Date.parse(manifest.sourceDate) / 1000,
      installScript: join(ROOT, 'deploy/install.sh'),
      manifest: { ...base, version, model: { ...manifest.model!, sha256: sha256(model) } },
    });
    return `${name}.tar.gz`;
  } finally {
    rmSync(stageRoot, { recursive: true, force: true });
  }
}

describe('offline install: both bundles in one folder, no network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-offline-'));
  const bundle = join(dir, 'bundle');
  // The target machine: Node.js and nothing else; no repository above any folder used, npm offline with an
  // empty cache and a registry that does not answer.
  const machine = join(dir, 'machine');
  const offline: NodeJS.ProcessEnv = {
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: machine,
    LANG: 'C.UTF-8',
    npm_config_offline: 'true',
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_cache: join(machine, 'empty-npm-cache'),
    npm_config_update_notifier: 'false',
    CASAM_BACKEND: 'wasm',
    // The launchers read /etc/casam/<app>.env by default: none of this machine's.
    CASAM_ENV_FILE: '',
  };
  // Random weights of the default preset: the bundle ships the default model, init copies it for that preset.
  const modelV1 = join(dir, `${DEFAULT_PRESET}-v1.safetensors`);
  const modelV2 = join(dir, `${DEFAULT_PRESET}-v2.safetensors`);
  let agentArchive = '';
  let coordinatorArchive = '';

  beforeAll(async () => {
    // Service users must reach everything below dir (mkdtemp makes it 0700).
    chmodSync(dir, 0o755);
    mkdirSync(offline.npm_config_cache!, { recursive: true });
    writeTinyBaseModel(modelV1, 11, DEFAULT_PRESET);
    writeTinyBaseModel(modelV2, 12, DEFAULT_PRESET);
    // The folder the docs name, packed into twice: before, the second pack overwrote the first's SHA256SUMS.
    await pack(['site-agent', '--out', bundle, '--model', modelV1]);
    await pack(['coordinator', '--out', bundle]);
    const names = readdirSync(bundle);
    agentArchive = names.find((n) => /^casam-site-agent-.*\.tar\.gz$/.test(n))!;
    coordinatorArchive = names.find((n) => /^casam-coordinator-.*\.tar\.gz$/.test(n))!;
  }, 400_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('each bundle has its own checksum list; install.sh refuses a product not asked for, and a damaged archive', async () => {
    const names = readdirSync(bundle).sort();
    expect(names).toEqual(
      [
        agentArchive,
        `${agentArchive}.sha256`,
        agentArchive.replace(/\.tar\.gz$/, '.manifest.json'),
        coordinatorArchive,
        `${coordinatorArchive}.sha256`,
        coordinatorArchive.replace(/\.tar\.gz$/, '.manifest.json'),
        'install.sh',
      ].sort(),
    );
    expect(agentArchive).toMatch(/^casam-site-agent-\d+\.\d+\.\d+-linux-x64\.tar\.gz$/);
    for (const a of [agentArchive, coordinatorArchive])
      expect(readFileSync(join(bundle, `${a}.sha256`), 'utf8')).toBe(`${sha256(join(bundle, a))}  ${a}\n`);

    // The docs' old command in that folder installed the coordinator into the site agent's prefix, exit 0.
    const prefix = join(dir, 'refused', 'casam-site-agent');
    const noProduct = await run('sh', [join(bundle, 'install.sh'), '--prefix', prefix, '--bin-dir', 'none'], {
      cwd: dir,
      env: offline,
    });
    expect(noProduct.code).toBe(1);
    expect(noProduct.stderr).toMatch(
      /holds several bundles .*: name the one to install.*nothing was installed/,
    );
    const wrong = await run(
      'sh',
      [join(bundle, 'install.sh'), 'coordinator', '--prefix', prefix, '--bin-dir', 'none'],
      { cwd: dir, env: offline },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /is the casam-site-agent folder, but .* is casam-coordinator; nothing was installed/,
    );
    expect(existsSync(join(prefix, 'current'))).toBe(false);

    const copy = join(dir, 'damaged');
    mkdirSync(copy);
    for (const f of [agentArchive, `${agentArchive}.sha256`, 'install.sh'])
      cpSync(join(bundle, f), join(copy, f));
    const bytes = readFileSync(join(copy, agentArchive));
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(join(copy, agentArchive), bytes);
    const damaged = await run(
      'sh',
      [join(copy, 'install.sh'), 'site-agent', '--prefix', prefix, '--bin-dir', 'none', '--user', 'none'],
      { cwd: dir, env: offline },
    );
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(
      /does not match .*\.sha256: the copy is damaged or altered; nothing was installed/,
    );
    expect(existsSync(join(prefix, 'current'))).toBe(false);
  });

  it('is reproducible (a second pack of the same sources is the same bytes) and carries deploy/ and docs/', async () => {
    const manifest = manifestOf(bundle, agentArchive);
    expect(manifest).not.toHaveProperty('builtAt');
    // Pack again with the first pack's date: the same files must give the same bytes. A source edited between two
    // packs (others at work in the checkout) is not a reproducibility bug: then the next pack is compared with
    // that one, a few times at most.
    let previous = bundle;
    let compared = false;
    for (let attempt = 1; attempt <= 3 && !compared; attempt++) {
      const again = join(dir, `again-${attempt}`);
      await pack(['site-agent', '--out', again, '--model', modelV1], {
        SOURCE_DATE_EPOCH: String(Date.parse(manifest.sourceDate) / 1000),
      });
      if (manifestOf(again, agentArchive).filesSha256 === manifestOf(previous, agentArchive).filesSha256) {
        expect(sha256(join(again, agentArchive))).toBe(sha256(join(previous, agentArchive)));
        compared = true;
      }
      previous = again;
    }
    expect(compared, 'the sources changed during each of 3 packs').toBe(true);

    // tar prints dates in local time: UTC, as sourceDate is written.
    const listing = await run('tar', ['--full-time', '-tvzf', join(bundle, agentArchive)], {
      env: { ...process.env, TZ: 'UTC' },
    });
    const rows = listing.stdout.trim().split('\n');
    const top = agentArchive.replace(/\.tar\.gz$/, '');
    const date = manifest.sourceDate.slice(0, 19).replace('T', ' ');
    for (const row of rows)
      expect(row).toMatch(new RegExp(`^[-d]rw[-x]r-[-x]r-[-x] 0/0 +\\d+ ${date} ${top}/`));
    const paths = rows.map((r) =>
      r
        .split(' ')
        .pop()!
        .slice(top.length + 1),
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        'bin/site-agent',
        'deploy/systemd/casam-site-agent.service',
        'deploy/systemd/casam-site-agent-serve.service',
        'deploy/logrotate/casam-site-agent',
        'deploy/env/site-agent.env',
        'docs/operations.md',
        DEFAULT_MODEL_FILE,
        expect.stringMatching(
          new RegExp(
            `^models/${DEFAULT_PRESET}/onnx-cache/${DEFAULT_PRESET}-[0-9a-f]{16}-x\\d+/image-encoder\\.onnx$`,
          ),
        ),
        expect.stringMatching(
          new RegExp(
            `^models/${DEFAULT_PRESET}/onnx-cache/${DEFAULT_PRESET}-[0-9a-f]{16}-x\\d+/probe\\.json$`,
          ),
        ),
      ]),
    );
    expect(Object.keys(manifest.packages)).toEqual(
      expect.arrayContaining([
        'tsx',
        'jose',
        'socket.io-client',
        '@tensorflow/tfjs-core',
        '@tensorflow/tfjs-backend-wasm',
      ]),
    );
    for (const devOrCoordinator of ['vitest', '@nestjs/core', 'prisma', '@electric-sql/pglite', 'eslint'])
      expect(manifest.packages[devOrCoordinator]).toBeUndefined();
    expect(manifest.model!.sha256).toBe(sha256(modelV1));

    const coordinator = manifestOf(bundle, coordinatorArchive);
    expect(coordinator.command).toBe('coordinator');
    expect(coordinator.packages['@nestjs/core']).toBeDefined();
    // The admin UI ships bundled: neither its bundler nor its chart library is installed at the hospital.
    for (const notNeeded of [
      'vitest',
      '@tensorflow/tfjs-core',
      'onnxruntime-node',
      'tsx',
      'esbuild',
      'echarts',
    ])
      expect(coordinator.packages[notNeeded]).toBeUndefined();
  });

  it('without root: installs with --user none, and the command linked into --bin-dir runs where npx cannot', async () => {
    mkdirSync(machine, { recursive: true });
    const prefix = join(machine, 'user-opt', 'casam-site-agent');
    const binDir = join(machine, 'user-bin');
    const inst = await run(
      'sh',
      [join(bundle, 'install.sh'), 'site-agent', '--prefix', prefix, '--bin-dir', binDir, '--user', 'none'],
      { cwd: machine, env: offline },
    );
    expect(inst.code, inst.stderr).toBe(0);
    expect(inst.stdout).toMatch(/checking \d+ files against FILES\.sha256/);
    expect(readlinkSync(join(binDir, 'site-agent'))).toBe(join(prefix, 'current/bin/site-agent'));

    const env = { ...offline, PATH: `${binDir}:${offline.PATH}` };
    // What the docs said before: outside the repository npx asks the registry for a package "site-agent".
    const npx = await run('npx', ['site-agent', '--help'], { cwd: machine, env });
    expect(npx.code).not.toBe(0);
    expect(npx.stderr).toMatch(/ENOTCACHED|offline|ECONNREFUSED/);

    const home = join(machine, 'agent-home');
    const agent = (args: string[]) => run('site-agent', [...args, '--home', home], { cwd: machine, env });
    const port = await freePort();
    const init = await agent(['init', '--coordinator', `http://127.0.0.1:${port}`, '--site-name', 'Offline']);
    expect(init.code, init.stderr).toBe(0);
    // The default base model is copied into the home: the program's versioned folder may go away.
    const config = JSON.parse(readFileSync(join(home, 'agent.json'), 'utf8')) as {
      model: { weights: string };
    };
    expect(config.model.weights).toBe(`models/${DEFAULT_PRESET}.safetensors`);
    expect(sha256(join(home, config.model.weights))).toBe(sha256(modelV1));
    // The bundle carries that model's ONNX export (made and probed at pack time): init places it in the home.
    expect(init.stderr).toMatch(
      new RegExp(`placed the bundled ONNX export of ${DEFAULT_PRESET} in .*onnx-cache/${DEFAULT_PRESET}-`),
    );

    const pre = await agent(['preflight', '--offline', '--json']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const out = join(machine, 'mask.png');
    const seg = await agent([
      'segment',
      '--image',
      fixturePath('sam-mini/test-image-200x240.png'),
      '--box',
      '40,30,180,150',
      '--out',
      out,
    ]);
    expect(seg.code, seg.stderr).toBe(0);
    // The first segment runs on ONNX Runtime without exporting anything: the packed export is used as it is.
    expect(seg.stderr).toMatch(/engine: onnxruntime-node/);
    expect(seg.stderr).not.toMatch(/exporting/);
    const mask = decodeImage(readFileSync(out));
    expect([mask.width, mask.height]).toEqual([240, 200]);

    // The units the bundle carries start what it installs: pointed at this prefix, systemd finds nothing wrong.
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
    if (analyze)
      for (const unit of ['casam-site-agent.service', 'casam-site-agent-serve.service']) {
        const installed = readFileSync(join(prefix, 'current/deploy/systemd', unit), 'utf8');
        expect(installed).toBe(readFileSync(join(ROOT, 'deploy/systemd', unit), 'utf8'));
        const copy = join(machine, unit);
        writeFileSync(copy, installed.replaceAll('/opt/casam-site-agent', prefix));
        const v = await run(analyze, ['verify', '--man=no', copy], { cwd: machine, env });
        expect(v.stdout + v.stderr, unit).toBe('');
        expect(v.code, unit).toBe(0);
      }
  });

  const skip = serviceUserSkipReason();
  describe.skipIf(skip !== null)(`as root${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const suffix = randomBytes(3).toString('hex');
    const users = { agent: `casam-e2e-a${suffix}`, coordinator: `casam-e2e-c${suffix}` };
    const sys = join(machine, 'sys');
    const binDir = join(sys, 'usr/local/bin');
    const etc = join(sys, 'etc/casam');
    const opt = (app: string) => join(sys, 'opt', `casam-${app}`);
    const state = {
      agent: join(sys, 'var/lib/casam-agent'),
      coordinator: join(sys, 'var/lib/casam-coordinator'),
    };
    let serve: ChildProcess | undefined;
    let serveExited: Promise<void> | undefined;

    afterAll(async () => {
      serve?.kill('SIGTERM');
      await serveExited;
      for (const u of Object.values(users))
        spawnSync('sh', [
          '-c',
          `PATH="$PATH:/usr/sbin:/sbin"; id -u "$0" >/dev/null 2>&1 && userdel "$0"`,
          u,
        ]);
    });

    const install = (args: string[]) =>
      run('sh', [join(bundle, 'install.sh'), ...args, '--bin-dir', binDir, '--config-dir', etc], {
        cwd: machine,
        env: offline,
      });
    /** A command typed as the docs say: runuser -u <service user> -- <command on PATH> …, env file of /etc/casam. */
    const as = (user: string, app: 'site-agent' | 'coordinator', args: string[], stdin?: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((res, rej) => {
        const c = spawn('runuser', ['-u', user, '--', app, ...args], {
          cwd: '/',
          env: {
            ...offline,
            PATH: `${binDir}:${offline.PATH}:/usr/sbin:/sbin`,
            CASAM_ENV_FILE: join(etc, `${app}.env`),
          },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.once('error', rej);
        c.once('close', (code) => res({ code, stdout, stderr }));
        c.stdin.end(stdin ?? '');
      });
    const ok = async (p: ReturnType<typeof as>) => {
      const r = await p;
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stderr}\n${r.stdout}`);
      return r;
    };
    const uid = (user: string) => Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
    const gid = (user: string) => Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());

    it('installs both as service users, enrolls with a trained task and a bundle, upgrades, deletes the old version, loses nothing', async () => {
      mkdirSync(machine, { recursive: true });
      // ── The coordinator: install.sh makes its user, state folder (0700) and env file, links the command.
      const ci = await install([
        'coordinator',
        '--prefix',
        opt('coordinator'),
        '--user',
        users.coordinator,
        '--state-dir',
        state.coordinator,
      ]);
      expect(ci.code, ci.stderr).toBe(0);
      expect(ci.stdout).toMatch(new RegExp(`created the system user ${users.coordinator}`));
      expect(statSync(state.coordinator).mode & 0o777).toBe(0o700);
      expect(statSync(state.coordinator).uid).toBe(uid(users.coordinator));
      const coordinatorEnv = join(etc, 'coordinator.env');
      expect(statSync(coordinatorEnv).mode & 0o777).toBe(0o640);
      expect(statSync(coordinatorEnv).gid).toBe(gid(users.coordinator));
      expect(readFileSync(coordinatorEnv, 'utf8')).toMatch(
        new RegExp(`^COORDINATOR_DATA_DIR=${state.coordinator}$`, 'm'),
      );
      expect(readlinkSync(join(binDir, 'coordinator'))).toBe(
        join(opt('coordinator'), 'current/bin/coordinator'),
      );
      const unit = readFileSync(
        join(opt('coordinator'), 'current/deploy/systemd/casam-coordinator.service'),
        'utf8',
      );
      expect(unit).toMatch(/^EnvironmentFile=-\/etc\/casam\/coordinator\.env$/m);
      const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
      if (analyze) {
        const copy = join(machine, 'casam-coordinator.service');
        writeFileSync(copy, unit.replaceAll('/opt/casam-coordinator', opt('coordinator')));
        const v = await run(analyze, ['verify', '--man=no', copy], { cwd: machine, env: offline });
        expect(v.stdout + v.stderr).toBe('');
      }
      // The operator's edit: the port (the unit sets its own).
      const port = await freePort();
      writeFileSync(coordinatorEnv, `${readFileSync(coordinatorEnv, 'utf8')}COORDINATOR_PORT=${port}\n`);

      // Before the first start: preflight finds the state folder as install.sh made it (it used to create it 0755).
      const pre = await as(users.coordinator, 'coordinator', ['preflight', '--json']);
      expect(pre.code, pre.stdout + pre.stderr).toBe(0);
      const dataDir = (
        JSON.parse(pre.stdout) as { checks: { name: string; status: string; detail: string }[] }
      ).checks.find((c) => c.name === 'data-dir')!;
      expect(dataDir).toMatchObject({ status: 'ok' });
      expect(dataDir.detail).toMatch(/mode 700/);

      // The first admin, with the installed command (npm run create-admin -w … needs the repository).
      const password = 'offline install e2e password';
      const email = 'ops@hospital.example';
      const admin = await as(
        users.coordinator,
        'coordinator',
        ['create-admin', '--email', email, '--role', 'admin'],
        `${password}\n`,
      );
      expect(admin.code, admin.stderr).toBe(0);

      // serve as the service user (setpriv execs it, so the signal reaches the coordinator itself).
      serve = spawn(
        'setpriv',
        [
          '--reuid',
          users.coordinator,
          '--regid',
          users.coordinator,
          '--init-groups',
          join(binDir, 'coordinator'),
          'serve',
        ],
        {
          cwd: '/',
          env: { ...offline, HOME: state.coordinator, CASAM_ENV_FILE: coordinatorEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      serveExited = new Promise<void>((r) => serve!.once('exit', () => r()));
      const url = await new Promise<string>((res, rej) => {
        let log = '';
        const t = setTimeout(() => rej(new Error(`not listening after 120 s:\n${log}`)), 120_000);
        const onData = (d: Buffer) => {
          log += d.toString();
          const m = /listening on (http:\/\/[^\s"()]+)/.exec(log);
          if (m) {
            clearTimeout(t);
            res(m[1]);
          }
        };
        serve!.stdout!.on('data', onData);
        serve!.stderr!.on('data', onData);
        void serveExited!.then(() => rej(new Error(`coordinator exited:\n${log}`)));
      });
      expect(url).toBe(`http://127.0.0.1:${port}`);
      // The admin UI's script is the one bundled at pack time.
      const ui = await fetch(`${url}/admin/js/app.js`);
      expect(ui.status).toBe(200);
      expect(Buffer.from(await ui.arrayBuffer()).length).toBeGreaterThan(100_000);
      // Another admin while it runs: refused (embedded database in use), with what to do instead.
      const second = await as(
        users.coordinator,
        'coordinator',
        ['create-admin', '--email', 'two@hospital.example', '--role', 'viewer'],
        `${password}\n`,
      );
      expect(second.code).toBe(4);
      expect(second.stderr).toMatch(
        /in use by the running coordinator .*: stop it, create the admin, start it again/,
      );
      const token = await adminLogin(url, email, password);
      const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const r = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${await r.text()}`);
        return (await r.json()) as T;
      };

      // ── The site agent: same folder, its own product; its user and state folder.
      const ai = await install([
        'site-agent',
        '--prefix',
        opt('site-agent'),
        '--user',
        users.agent,
        '--state-dir',
        state.agent,
      ]);
      expect(ai.code, ai.stderr).toBe(0);
      expect(statSync(state.agent).mode & 0o777).toBe(0o700);
      expect(statSync(state.agent).uid).toBe(uid(users.agent));
      const agent = (args: string[]) => ok(as(users.agent, 'site-agent', args));

      // A home the service user cannot create: one line and exit 2 (was: exit 1, "this is a bug", a stack trace).
      const locked = join(machine, 'root-only');
      mkdirSync(locked, { mode: 0o755 });
      const denied = await as(users.agent, 'site-agent', [
        'init',
        '--home',
        join(locked, 'home'),
        '--coordinator',
        url,
        '--site-name',
        'X',
      ]);
      expect(denied.code).toBe(2);
      expect(denied.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^site-agent: error: cannot mkdir .*: permission denied; run site-agent as the user/,
        ),
      ]);

      // No --home and no CASAM_AGENT_HOME: the env file install.sh wrote names the state folder.
      const init = await agent(['init', '--coordinator', url, '--site-name', 'Offline General']);
      const fingerprint = /fingerprint: (\S+)/.exec(init.stdout)![1]!;
      const config = JSON.parse(readFileSync(join(state.agent, 'agent.json'), 'utf8')) as {
        model: { weights: string };
      };
      expect(config.model.weights).toBe(`models/${DEFAULT_PRESET}.safetensors`);
      expect(init.stderr).toMatch(new RegExp(`placed the bundled ONNX export of ${DEFAULT_PRESET}`));
      const pre1 = JSON.parse((await agent(['preflight', '--json'])).stdout) as {
        ok: boolean;
        checks: { name: string; status: string }[];
      };
      expect(pre1.ok).toBe(true);

      const enrollment = await api<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {});
      await agent(['enroll', '--token', enrollment.token]);
      const siteId = (JSON.parse(readFileSync(join(state.agent, 'state.json'), 'utf8')) as { siteId: string })
        .siteId;
      await api('POST', `/api/v1/sites/${siteId}/approve`, { keyFingerprint: fingerprint });

      const data = join(machine, 'data', 'spleen');
      await writeDomainFolder(data, 'msd-spleen-ct', { count: 14, size: 128, seed: 2, preview: false });
      await agent(['ingest', '--task', 'spleen', '--folder', data, '--modality', 'CT']);
      const taskId = /as ([0-9a-f-]{36})/.exec((await agent(['propose', '--task', 'spleen'])).stdout)![1]!;
      await api('POST', `/api/v1/tasks/${taskId}/approve`);
      await agent([
        'train',
        '--force',
        '--task',
        'spleen',
        '--epochs',
        '1',
        '--vae-epochs',
        '3',
        '--max-images',
        '6',
      ]);
      // --force: one epoch on random base-model weights may validate below frozen SAM (upload refuses that).
      await agent(['upload', '--task', 'spleen', '--chunk-size', '65536', '--force']);
      const adapterId = (
        JSON.parse(readFileSync(join(state.agent, 'tasks/spleen/task.json'), 'utf8')) as {
          upload: { adapterVersionId: string };
        }
      ).upload.adapterVersionId;
      await api('POST', `/api/v1/adapters/${adapterId}/approve`);
      expect((await agent(['pull'])).stdout).toMatch(/installed bundle \d+ \(1 task\(s\)/);
      type Status = {
        agentVersion: string;
        siteId: string;
        keyFingerprint: string;
        enrollment: string;
        bundle: { version: number; tasks: number } | null;
        tasks: { name: string; coordinatorTaskId: string; trained: boolean; upload: string }[];
      };
      const before = JSON.parse((await agent(['status', '--json'])).stdout) as Status;
      expect(before).toMatchObject({
        siteId,
        keyFingerprint: fingerprint,
        enrollment: 'approved',
        bundle: { tasks: 1 },
      });
      expect(before.tasks.map((t) => [t.name, t.coordinatorTaskId, t.upload])).toEqual([
        ['spleen', taskId, 'done'],
      ]);

      // ── The upgrade: the next release (another version, another default model) from its own folder.
      const next = join(dir, 'bundle-next');
      const v1 = manifestOf(bundle, agentArchive).version;
      const nextArchive = await reversionedSiteAgent(bundle, agentArchive, next, '9.9.9', modelV2);
      expect(nextArchive).toBe(agentArchive.replace(v1, '9.9.9'));
      const upgraded = await run(
        'sh',
        [
          join(next, 'install.sh'),
          'site-agent',
          '--prefix',
          opt('site-agent'),
          '--bin-dir',
          binDir,
          '--config-dir',
          etc,
          '--user',
          users.agent,
          '--state-dir',
          state.agent,
        ],
        { cwd: machine, env: offline },
      );
      expect(upgraded.code, upgraded.stderr).toBe(0);
      expect(upgraded.stdout).toMatch(/kept .*site-agent\.env/);
      expect(readlinkSync(join(opt('site-agent'), 'current'))).toBe('9.9.9');
      rmSync(join(opt('site-agent'), v1), { recursive: true });
      expect(lstatSync(join(binDir, 'site-agent')).isSymbolicLink()).toBe(true);

      const after = JSON.parse((await agent(['status', '--json'])).stdout) as Status;
      expect(after.agentVersion).toBe('9.9.9');
      expect(after).toMatchObject({
        siteId,
        keyFingerprint: fingerprint,
        enrollment: 'approved',
        bundle: before.bundle,
        // What the site keeps of each task (not when the coordinator was last asked about it).
        tasks: before.tasks.map(({ name, coordinatorTaskId, trained, upload }) => ({
          name,
          coordinatorTaskId,
          trained,
          upload,
        })),
      });
      // The site keeps the base model its bundle was trained on, not the new release's default.
      const pre2 = await as(users.agent, 'site-agent', ['preflight', '--json']);
      expect(pre2.code, pre2.stdout + pre2.stderr).toBe(0);
      const model = (
        JSON.parse(pre2.stdout) as { checks: { name: string; status: string; detail: string }[] }
      ).checks.find((c) => c.name === 'model')!;
      expect(model.status).toBe('ok');
      expect(model.detail).toMatch(/= the federation's/);
      const img = join(
        data,
        (JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as { items: { image: string }[] })
          .items[0]!.image,
      );
      const seg = await agent([
        'segment',
        '--image',
        img,
        '--box',
        '20,20,100,100',
        '--out',
        join(state.agent, 'mask.png'),
        '--json',
      ]);
      expect(
        (JSON.parse(seg.stdout) as { scores: { taskId: string }[] }).scores.map((s) => s.taskId),
      ).toEqual([taskId]);
    }, 900_000);
  });
});
