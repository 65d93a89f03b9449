import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@casam/casam-core';
// Test-only helper (not part of casam-core's public API, so imported by path within the package).
import { fixturePath } from '@casam/casam-core/src/testing/fixtures';
import { freePort } from './support/coordinator-process';
import { writeTinyBaseModel } from './support/site-setup';
import { runProcess } from './support/site-agent-cli';

const ROOT = resolve(__dirname, '../..');

const run = runProcess;

describe('offline install bundle of the site agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-offline-'));
  const bundle = join(dir, 'bundle');
  // A machine with Node.js and nothing else: no repository above the cwd, npm offline with an empty cache.
  const machine = join(dir, 'machine');
  const env: NodeJS.ProcessEnv = {
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: machine,
    npm_config_offline: 'true',
    npm_config_cache: join(machine, 'empty-npm-cache'),
    CASAM_BACKEND: 'wasm',
  };
  beforeAll(async () => {
    mkdirSync(env.npm_config_cache!, { recursive: true });
    const model = join(dir, 'casam-tiny.safetensors');
    writeTinyBaseModel(model, 11);
    const packed = await run(
      process.execPath,
      [
        join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
        'scripts/pack-offline.ts',
        'site-agent',
        '--out',
        bundle,
        '--model',
        model,
      ],
      { cwd: ROOT, env: { ...process.env, INIT_CWD: ROOT } },
    );
    if (packed.code !== 0) throw new Error(`pack failed (${packed.code}):\n${packed.stderr}`);
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the bundle is the archive, its checksum, a manifest of versions and install.sh; only runtime packages', () => {
    const names = readdirSync(bundle).sort();
    const archive = names.find((n) => n.endsWith('.tar.gz'))!;
    expect(archive).toMatch(/^casam-site-agent-\d+\.\d+\.\d+-linux-x64\.tar\.gz$/);
    expect(names).toEqual(expect.arrayContaining(['SHA256SUMS', 'install.sh']));
    expect(readFileSync(join(bundle, 'SHA256SUMS'), 'utf8')).toMatch(
      new RegExp(`^[0-9a-f]{64}  ${archive}\\n$`),
    );
    const manifest = JSON.parse(
      readFileSync(join(bundle, archive.replace(/\.tar\.gz$/, '.manifest.json')), 'utf8'),
    ) as { packages: Record<string, string>; model: { sha256: string }; protocolVersion: string };
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
    expect(manifest.model.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('install.sh refuses a damaged archive and installs nothing', async () => {
    const copy = join(dir, 'damaged');
    cpSync(bundle, copy, { recursive: true });
    const archive = readdirSync(copy).find((n) => n.endsWith('.tar.gz'))!;
    const bytes = readFileSync(join(copy, archive));
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(join(copy, archive), bytes);
    const prefix = join(dir, 'damaged-prefix');
    const r = await run('sh', [join(copy, 'install.sh'), '--prefix', prefix], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /does not match SHA256SUMS: the copy is damaged or altered; nothing was installed/,
    );
    expect(existsSync(join(prefix, 'current'))).toBe(false);
  });

  it('installs into an empty folder without network, then preflight and segment run from it', async () => {
    mkdirSync(machine, { recursive: true });
    const prefix = join(machine, 'opt', 'casam-site-agent');
    const inst = await run('sh', [join(bundle, 'install.sh'), '--prefix', prefix], { cwd: machine, env });
    expect(inst.code, inst.stderr).toBe(0);
    expect(inst.stdout).toMatch(/checking \d+ files against FILES\.sha256/);
    const bin = join(prefix, 'current', 'bin', 'site-agent');
    const home = join(machine, 'agent-home');
    const agent = (args: string[]) => run(bin, [...args, '--home', home], { cwd: machine, env });

    const port = await freePort();
    const init = await agent(['init', '--coordinator', `http://127.0.0.1:${port}`, '--site-name', 'Offline']);
    expect(init.code, init.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(home, 'agent.json'), 'utf8')) as {
      model: { weights: string };
    };
    // The default base model is the one shipped in the bundle.
    expect(config.model.weights.startsWith(prefix)).toBe(true);

    const pre = await agent(['preflight', '--offline', '--json']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const checks = Object.fromEntries(
      (JSON.parse(pre.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.map(
        (c) => [c.name, c],
      ),
    );
    expect(checks['backend']!.detail).toMatch(/^wasm/);
    expect(checks['model']).toMatchObject({ status: 'ok' });

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
    const mask = decodeImage(readFileSync(out));
    expect([mask.width, mask.height]).toEqual([240, 200]);

    // The systemd units start what the bundle installs: pointed at this prefix, systemd finds nothing wrong.
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
    if (analyze)
      for (const unit of ['casam-site-agent.service', 'casam-site-agent-serve.service']) {
        const copy = join(machine, unit);
        writeFileSync(
          copy,
          readFileSync(join(ROOT, 'deploy/systemd', unit), 'utf8').replaceAll(
            '/opt/casam-site-agent',
            prefix,
          ),
        );
        const v = await run(analyze, ['verify', '--man=no', copy], { cwd: machine, env });
        expect(v.stdout + v.stderr, unit).toBe('');
        expect(v.code, unit).toBe(0);
      }
  });
});

describe('offline install bundle of the coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-offline-coord-'));
  const bundle = join(dir, 'bundle');
  const machine = join(dir, 'machine');
  const env: NodeJS.ProcessEnv = {
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: machine,
    npm_config_offline: 'true',
    npm_config_cache: join(machine, 'empty-npm-cache'),
    COORDINATOR_DATA_DIR: join(machine, 'data'),
    COORDINATOR_PORT: '0',
  };
  beforeAll(async () => {
    mkdirSync(env.npm_config_cache!, { recursive: true });
    const packed = await run(
      process.execPath,
      [
        join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
        'scripts/pack-offline.ts',
        'coordinator',
        '--out',
        bundle,
      ],
      { cwd: ROOT, env: { ...process.env, INIT_CWD: ROOT } },
    );
    if (packed.code !== 0) throw new Error(`pack failed (${packed.code}):\n${packed.stderr}`);
  }, 240_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs into an empty folder without network; preflight, migrate and serve run from it', async () => {
    const manifest = JSON.parse(
      readFileSync(
        join(
          bundle,
          readdirSync(bundle).find((n) => n.endsWith('.manifest.json'))!,
        ),
        'utf8',
      ),
    ) as { command: string; packages: Record<string, string> };
    expect(manifest.command).toBe('coordinator');
    expect(manifest.packages['@nestjs/core']).toBeDefined();
    for (const notNeeded of ['vitest', '@tensorflow/tfjs-core', 'onnxruntime-node', 'tsx'])
      expect(manifest.packages[notNeeded]).toBeUndefined();

    const prefix = join(machine, 'opt', 'casam-coordinator');
    const inst = await run('sh', [join(bundle, 'install.sh'), '--prefix', prefix], { cwd: dir, env });
    expect(inst.code, inst.stderr).toBe(0);
    const bin = join(prefix, 'current', 'bin', 'coordinator');

    const before = await run(bin, ['preflight', '--json'], { cwd: machine, env });
    expect(before.code, before.stdout + before.stderr).toBe(0);
    const migrate = await run(bin, ['migrate'], { cwd: machine, env });
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/applied \d+ migration\(s\)/);

    const serve = spawn(bin, ['serve'], { cwd: machine, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((r) => serve.once('exit', () => r()));
    try {
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
        serve.stdout.on('data', onData);
        serve.stderr.on('data', onData);
        void exited.then(() => rej(new Error(`coordinator exited:\n${log}`)));
      });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      serve.kill('SIGTERM');
      await exited;
    }
    type Checks = { checks: { name: string; status: string; detail: string }[] };
    // serve made the data directory with this process's umask (022): preflight says to close it…
    const after = await run(bin, ['preflight', '--json'], { cwd: machine, env });
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const open = (JSON.parse(after.stdout) as Checks).checks.filter((c) => c.status !== 'ok');
    expect(open).toEqual([expect.objectContaining({ name: 'data-dir', status: 'warn' })]);
    expect(open[0]!.detail).toMatch(/open to other users \(mode 755\)/);
    // …and once it is (as the systemd unit's UMask=0077 does), every check is ok.
    chmodSync(env.COORDINATOR_DATA_DIR!, 0o700);
    const closed = await run(bin, ['preflight', '--json'], { cwd: machine, env });
    const checks = (JSON.parse(closed.stdout) as Checks).checks;
    expect(checks.filter((c) => c.status !== 'ok').map((c) => c.name)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['migrations', 'blob-store', 'signing-key']),
    );
  });
});
