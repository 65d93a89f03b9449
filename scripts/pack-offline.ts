/**
 * Builds an offline install bundle of the site agent or the coordinator: one tar.gz with the app's sources,
 * every npm package it needs at run time (and nothing else: no dev tools, no packages of the other app, native
 * binaries for this platform only), the `bin/<command>` launcher, deploy/ (systemd units, logrotate, nginx, the
 * env file template) and docs/, a manifest of versions and a sha256 of every file; next to it the archive's own
 * checksum list (`<archive>.sha256`, so both apps' bundles can share one folder) and install.sh, which verifies
 * both before anything is installed. The site agent's bundle carries the default base model and its ONNX export
 * (made and checked against TF.js at pack time, so the first segment does not export); the coordinator's
 * the Prisma schema, migrations and the generated Prisma client. Needs no network. Reproducible: every date in
 * the archive is SOURCE_DATE_EPOCH or the commit's time (see libs/casam-lab/src/release/offline-bundle.ts).
 *
 *   npm run pack:site-agent -- [--out dist/offline] [--model <weights of the default preset>]
 *   npm run pack:coordinator -- [--out dist/offline]
 *
 * Exit codes: 0 done, 1 internal error, 2 usage error, 3 something the bundle needs is missing.
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_FILE, DEFAULT_PRESET } from '@casam/casam-core';
import { EXIT_CODES, PROTOCOL_VERSION } from '@casam/protocol';
import { ADMIN_UI_PREBUILT, bundleAdminUi, COORDINATOR_VERSION } from '@casam/coordinator/release';
import { AGENT_VERSION, exportCheckpointOnnx } from '@casam/site-agent/release';
import {
  byCodeUnit,
  PackError,
  sealBundle,
  sha256File,
  sourceDateEpoch,
  walkFiles as walk,
} from '@casam/casam-lab';

const ROOT = path.resolve(__dirname, '..');
interface Target {
  /** Bundle and command name. */
  name: 'site-agent' | 'coordinator';
  version: string;
  /** Sources whose imports decide which npm packages the app needs (tests and test helpers excluded). */
  sourceDirs: string[];
  /** Packages needed that no source imports by name (the TypeScript loader). */
  extraRoots: string[];
  /** Workspace libraries, copied into node_modules. */
  libs: Record<string, string>;
  /** Folders copied as they are (relative to the repository), tests left out. */
  copy: string[];
  /** Build-time sources inside `copy`: neither copied nor scanned for packages; `build` ships what they make. */
  buildOnly: string[];
  /** Writes build outputs into the staged bundle's root; returns what it did, for the log. */
  build?: (stage: string) => Promise<string>;
  /** The app's entry script, relative to the bundle root. */
  entry: string;
  /** Files of deploy/ the bundle carries (units, logrotate, nginx, the env file template). */
  deploy: string[];
}

const TARGETS: Record<Target['name'], Target> = {
  'site-agent': {
    name: 'site-agent',
    version: AGENT_VERSION,
    sourceDirs: ['apps/site-agent/src', 'libs/casam-core/src', 'libs/protocol/src'],
    extraRoots: ['tsx'],
    libs: { '@casam/protocol': 'libs/protocol', '@casam/casam-core': 'libs/casam-core' },
    copy: ['apps/site-agent'],
    buildOnly: [],
    entry: 'apps/site-agent/bin/site-agent.js',
    deploy: [
      'deploy/systemd/casam-site-agent.service',
      'deploy/systemd/casam-site-agent-serve.service',
      'deploy/logrotate/casam-site-agent',
      'deploy/env/site-agent.env',
    ],
  },
  coordinator: {
    name: 'coordinator',
    version: COORDINATOR_VERSION,
    sourceDirs: ['apps/coordinator/src', 'apps/coordinator/bin', 'libs/protocol/src'],
    extraRoots: [],
    libs: { '@casam/protocol': 'libs/protocol' },
    // The generated client must match prisma/schema.prisma (checked at start); migrations apply at start.
    copy: ['apps/coordinator', 'prisma', 'node_modules/.prisma'],
    // The admin UI ships as its bundled script: no TypeScript sources, esbuild or echarts at the hospital.
    buildOnly: ['apps/coordinator/src/admin-ui/web', 'apps/coordinator/src/admin-ui/admin-ui.bundle.ts'],
    build: async (stage) => {
      const file = path.join(stage, path.relative(ROOT, ADMIN_UI_PREBUILT));
      const script = await bundleAdminUi();
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, script, { mode: 0o644 });
      return `bundled the admin UI (${(script.length / 1024).toFixed(0)} KiB)`;
    },
    entry: 'apps/coordinator/bin/coordinator.js',
    deploy: [
      'deploy/systemd/casam-coordinator.service',
      'deploy/nginx/coordinator.conf',
      'deploy/env/coordinator.env',
    ],
  },
};

const isTestFile = (rel: string) =>
  /\.(spec|bench|testing)\.ts$/.test(rel) || rel.split(path.sep).includes('testing');
/** `rel` (relative to the repository) is one of the target's build-only paths or inside one. */
const isBuildOnly = (t: Target, rel: string) =>
  t.buildOnly.some((b) => rel === path.normalize(b) || rel.startsWith(path.normalize(b) + path.sep));

/** Bare package names imported by the agent's non-test sources. */
function importedPackages(t: Target): Set<string> {
  const found = new Set<string>();
  const re = /(?:from\s+|import\(\s*|require(?:\.resolve)?\(\s*)'(@?[a-z0-9][\w.-]*(?:\/[\w.-]+)*)'/g;
  for (const dir of t.sourceDirs)
    for (const f of walk(path.join(ROOT, dir))) {
      const rel = path.relative(ROOT, f);
      // TypeScript sources and the bin/ launchers (the admin UI's browser sources are build-only: see `build`).
      if (!(rel.endsWith('.ts') || /\/bin\/[^/]+\.js$/.test(rel)) || isTestFile(rel) || isBuildOnly(t, rel))
        continue;
      for (const m of fs.readFileSync(f, 'utf8').matchAll(re)) {
        const spec = m[1];
        if (spec.startsWith('node:') || spec.includes('${')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (isBuiltin(name) || name in t.libs) continue;
        found.add(name);
      }
    }
  return found;
}

function isBuiltin(name: string): boolean {
  return builtinModules.includes(name);
}

interface Pkg {
  name: string;
  version: string;
  /** Directory relative to node_modules' parent (ROOT), e.g. node_modules/a/node_modules/b. */
  rel: string;
}

/** Where Node would find `name` from `fromDir` (walking up node_modules folders), or null. */
function locate(name: string, fromDir: string): string | null {
  for (let d = fromDir; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', name, 'package.json');
    if (fs.existsSync(candidate)) return path.dirname(candidate);
    if (d === ROOT || path.dirname(d) === d) return null;
  }
}

/** The packages and all their installed dependencies (optional ones when installed). */
function closure(roots: Iterable<string>): Pkg[] {
  const seen = new Map<string, Pkg>();
  const queue: [string, string, boolean][] = [...roots].map((r) => [r, ROOT, false]);
  while (queue.length) {
    const [name, from, optional] = queue.shift()!;
    const dir = locate(name, from);
    if (!dir) {
      if (optional) continue;
      throw new PackError(`${name} is needed at run time but not installed (run npm ci)`);
    }
    const rel = path.relative(ROOT, dir);
    if (seen.has(rel)) continue;
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      version: string;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    seen.set(rel, { name, version: pj.version, rel });
    for (const d of Object.keys(pj.dependencies ?? {})) queue.push([d, dir, false]);
    // Optional dependencies (platform binaries) and peers (NestJS needs rxjs, reflect-metadata) when installed.
    for (const d of Object.keys({ ...pj.optionalDependencies, ...pj.peerDependencies }))
      queue.push([d, dir, true]);
  }
  return [...seen.values()].sort((a, b) => byCodeUnit(a.rel, b.rel));
}

/** Native binaries of onnxruntime-node for other platforms are left out (they are most of its 290 MB). */
function keepFile(rel: string): boolean {
  const m = /onnxruntime-node\/bin\/napi-v\d+\/([^/]+)\/([^/]+)/.exec(rel.split(path.sep).join('/'));
  return !m || (m[1] === process.platform && m[2] === process.arch);
}

/** Copies the folder `from` (or the one file) to `to`, the files `filter` keeps. */
function copyTree(from: string, to: string, filter: (rel: string) => boolean): void {
  for (const f of fs.statSync(from).isDirectory() ? walk(from) : [from]) {
    const rel = path.relative(ROOT, f);
    if (!filter(rel)) continue;
    const dest = path.join(to, path.relative(from, f));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(f, dest);
    // 0644 or 0755 whatever the checkout's umask was: the archive's modes are part of its bytes.
    fs.chmodSync(dest, fs.statSync(f).mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * The default model's ONNX export, made by the agent's own export-onnx code (same cache layout, same probe
 * against TF.js) into models/<default preset>/onnx-cache/, where `site-agent init` finds it and places it in the home:
 * a hospital's first segment or serve then does not pay for the export. The times measured while exporting and
 * probing, and the export's date, are written as the sources' date and 0 so that the archive stays reproducible.
 */
async function packOnnxExport(modelFile: string, epoch: number): Promise<string> {
  const cacheRoot = path.join(path.dirname(modelFile), 'onnx-cache');
  let r;
  try {
    r = await exportCheckpointOnnx({ model: DEFAULT_PRESET, checkpoint: modelFile }, cacheRoot, () => {});
  } catch (e) {
    throw new PackError(`cannot export the model to ONNX: ${(e as Error).message}`);
  }
  const manifestFile = path.join(r.base.dir, 'onnx-export.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Record<string, unknown> & {
    encoder: { exportMs?: number };
    decoder: { exportMs?: number };
  };
  manifest['createdAt'] = new Date(epoch * 1000).toISOString();
  manifest.encoder.exportMs = 0;
  manifest.decoder.exportMs = 0;
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  const probeFile = path.join(r.base.dir, 'probe.json');
  const probe = JSON.parse(fs.readFileSync(probeFile, 'utf8')) as { ms: number };
  fs.writeFileSync(probeFile, JSON.stringify({ ...probe, ms: 0 }, null, 2) + '\n');
  for (const f of walk(cacheRoot)) fs.chmodSync(f, 0o644);
  const mib = r.files.reduce((a, f) => a + f.bytes, 0) / 2 ** 20;
  return (
    `exported the model to ONNX in ${(r.base.exportMs / 1000).toFixed(1)} s and probed it against TF.js in ` +
    `${(r.base.probe.ms / 1000).toFixed(1)} s (${mib.toFixed(1)} MiB, ${path.basename(r.base.dir)})`
  );
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: 'string', default: 'dist/offline' }, model: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    console.error(`pack-offline: ${(e as Error).message}`);
    return EXIT_CODES.usage;
  }
  const args = parsed.values;
  const t = TARGETS[parsed.positionals[0] as Target['name']];
  if (!t || parsed.positionals.length !== 1) {
    console.error(
      'usage: pack-offline site-agent|coordinator [--out <dir>] [--model <file>] (site-agent only)',
    );
    return EXIT_CODES.usage;
  }
  if (t.name === 'coordinator' && args.model) {
    console.error('pack-offline: --model is for the site agent');
    return EXIT_CODES.usage;
  }
  const base = process.env['INIT_CWD'] ?? process.cwd();
  const out = path.resolve(base, args.out!);
  let model: string | null = null;
  if (t.name === 'site-agent') {
    model = path.resolve(base, args.model ?? path.join(ROOT, DEFAULT_MODEL_FILE));
    if (!fs.existsSync(model))
      throw new PackError(
        `the default model ${model} does not exist: run npm run pretrain first, or pass --model <file.safetensors>`,
      );
    if (fs.statSync(model).size < 16 || fs.readFileSync(model).subarray(8, 9).toString() !== '{')
      throw new PackError(`${model} is not a .safetensors file`);
  } else if (!fs.existsSync(path.join(ROOT, 'node_modules/.prisma/client/schema.prisma')))
    throw new PackError('no generated Prisma client: run npx prisma generate first');
  const name = `casam-${t.name}-${t.version}-${process.platform}-${process.arch}`;
  fs.mkdirSync(out, { recursive: true });
  const stageRoot = fs.mkdtempSync(path.join(out, '.stage-'));
  const stage = path.join(stageRoot, name);
  const t0 = performance.now();
  const step = (s: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${s}`);
  try {
    const roots = importedPackages(t);
    for (const r of t.extraRoots) roots.add(r);
    const pkgs = closure(roots);
    step(`${pkgs.length} npm packages needed at run time (from ${[...roots].sort().join(', ')})`);
    for (const p of pkgs) copyTree(path.join(ROOT, p.rel), path.join(stage, p.rel), keepFile);
    for (const [pkg, dir] of Object.entries(t.libs))
      copyTree(path.join(ROOT, dir), path.join(stage, 'node_modules', pkg), (rel) => !isTestFile(rel));
    for (const dir of t.copy)
      copyTree(
        path.join(ROOT, dir),
        path.join(stage, dir),
        (rel) => !isTestFile(rel) && !isBuildOnly(t, rel),
      );
    if (t.build) step(await t.build(stage));
    let modelInfo: { preset: string; file: string; sha256: string } | undefined;
    if (model) {
      const file = DEFAULT_MODEL_FILE;
      fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
      fs.copyFileSync(model, path.join(stage, file));
      fs.chmodSync(path.join(stage, file), 0o644);
      modelInfo = { preset: DEFAULT_PRESET, file, sha256: sha256File(path.join(stage, file)) };
      step(await packOnnxExport(path.join(stage, file), sourceDateEpoch(ROOT)));
    }
    // What hospital IT installs next to the program: units, logrotate, nginx, the env file, and the guides.
    for (const f of t.deploy) copyTree(path.join(ROOT, f), path.join(stage, f), () => true);
    copyTree(path.join(ROOT, 'docs'), path.join(stage, 'docs'), () => true);
    fs.mkdirSync(path.join(stage, 'bin'));
    fs.writeFileSync(
      path.join(stage, 'bin', t.name),
      fs
        .readFileSync(path.join(ROOT, 'deploy/launcher.sh'), 'utf8')
        .replaceAll('@COMMAND@', t.name)
        .replaceAll('@ENTRY@', t.entry),
      { mode: 0o755 },
    );
    step(`copied sources, packages, deploy/ and docs/${model ? ' and the model' : ''}`);

    const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const epoch = sourceDateEpoch(ROOT);
    const sealed = await sealBundle({
      stageRoot,
      name,
      out,
      epoch,
      installScript: path.join(ROOT, 'deploy/install.sh'),
      manifest: {
        name: `casam-${t.name}`,
        command: t.name,
        version: t.version,
        protocolVersion: PROTOCOL_VERSION,
        node: rootPkg.engines.node,
        platform: `${process.platform}-${process.arch}`,
        // The sources' date (SOURCE_DATE_EPOCH or the commit's), not the build's: the same sources, the same bytes.
        sourceDate: new Date(epoch * 1000).toISOString(),
        ...(modelInfo ? { model: modelInfo } : {}),
        packages: Object.fromEntries(pkgs.map((p) => [p.rel.replace(/^node_modules\//, ''), p.version])),
      },
    });
    // Older packs wrote one SHA256SUMS per folder, which the next pack overwrote; each archive now has its own.
    if (fs.existsSync(path.join(out, 'SHA256SUMS'))) {
      fs.rmSync(path.join(out, 'SHA256SUMS'));
      step('removed the stale SHA256SUMS of an older pack (each archive has its own <archive>.sha256 now)');
    }
    step(
      `wrote ${sealed.archive} (${(fs.statSync(sealed.archive).size / 1024 ** 2).toFixed(1)} MiB, ${sealed.files} files, sha256 ${sealed.sha256}), ${path.basename(sealed.archive)}.sha256, install.sh; install with: ./install.sh ${t.name}`,
    );
    return EXIT_CODES.ok;
  } finally {
    fs.rmSync(stageRoot, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    if (e instanceof PackError) {
      console.error(`pack-offline: ${e.message}`);
      process.exitCode = EXIT_CODES.input;
    } else {
      console.error('pack-offline: internal error (this is a bug):', e);
      process.exitCode = EXIT_CODES.internal;
    }
  },
);
