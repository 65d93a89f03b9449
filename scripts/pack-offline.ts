/**
 * Builds an offline install bundle of the site agent or the coordinator: one tar.gz with the app's sources,
 * every npm package it needs at run time (and nothing else: no dev tools, no packages of the other app, native
 * binaries for this platform only), a manifest of versions and a sha256 of every file; next to it SHA256SUMS and
 * install.sh, which verifies both before anything is installed. The site agent's bundle carries the default base
 * model; the coordinator's the Prisma schema, migrations and the generated Prisma client. Needs no network.
 *
 *   npm run pack:site-agent -- [--out dist/offline] [--model models/casam-tiny/casam-tiny.safetensors]
 *   npm run pack:coordinator -- [--out dist/offline]
 *
 * Exit codes: 0 done, 1 internal error, 2 usage error, 3 something the bundle needs is missing.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROTOCOL_VERSION } from '@casam/protocol';
import { AGENT_VERSION } from '../apps/site-agent/src/version';
import { COORDINATOR_VERSION } from '../apps/coordinator/src/version';

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
  /** The app's entry script, relative to the bundle root. */
  entry: string;
}

const TARGETS: Record<Target['name'], Target> = {
  'site-agent': {
    name: 'site-agent',
    version: AGENT_VERSION,
    sourceDirs: ['apps/site-agent/src', 'libs/casam-core/src', 'libs/protocol/src'],
    extraRoots: ['tsx'],
    libs: { '@casam/protocol': 'libs/protocol', '@casam/casam-core': 'libs/casam-core' },
    copy: ['apps/site-agent'],
    entry: 'apps/site-agent/bin/site-agent.js',
  },
  coordinator: {
    name: 'coordinator',
    version: COORDINATOR_VERSION,
    sourceDirs: ['apps/coordinator/src', 'apps/coordinator/bin', 'libs/protocol/src'],
    extraRoots: [],
    libs: { '@casam/protocol': 'libs/protocol' },
    // The generated client must match prisma/schema.prisma (checked at start); migrations apply at start.
    copy: ['apps/coordinator', 'prisma', 'node_modules/.prisma'],
    entry: 'apps/coordinator/bin/coordinator.js',
  },
};

class PackError extends Error {}

const isTestFile = (rel: string) =>
  /\.(spec|bench|testing)\.ts$/.test(rel) || rel.split(path.sep).includes('testing');

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Bare package names imported by the agent's non-test sources. */
function importedPackages(t: Target): Set<string> {
  const found = new Set<string>();
  const re = /(?:from\s+|import\(\s*|require(?:\.resolve)?\(\s*)'(@?[a-z0-9][\w.-]*(?:\/[\w.-]+)*)'/g;
  for (const dir of t.sourceDirs)
    for (const f of walk(path.join(ROOT, dir))) {
      const rel = path.relative(ROOT, f);
      // TypeScript sources and the bin/ launchers (the admin UI's browser scripts load nothing from npm).
      if (!(rel.endsWith('.ts') || /\/bin\/[^/]+\.js$/.test(rel)) || isTestFile(rel)) continue;
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
  return [...seen.values()].sort((a, b) => a.rel.localeCompare(b.rel));
}

/** Native binaries of onnxruntime-node for other platforms are left out (they are most of its 290 MB). */
function keepFile(rel: string): boolean {
  const m = /onnxruntime-node\/bin\/napi-v\d+\/([^/]+)\/([^/]+)/.exec(rel.split(path.sep).join('/'));
  return !m || (m[1] === process.platform && m[2] === process.arch);
}

const sha256File = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

function copyTree(from: string, to: string, filter: (rel: string) => boolean): void {
  for (const f of walk(from)) {
    const rel = path.relative(ROOT, f);
    if (!filter(rel)) continue;
    const dest = path.join(to, path.relative(from, f));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(f, dest);
    fs.chmodSync(dest, fs.statSync(f).mode & 0o755);
  }
}

function main(argv: string[]): number {
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
    return 2;
  }
  const args = parsed.values;
  const t = TARGETS[parsed.positionals[0] as Target['name']];
  if (!t || parsed.positionals.length !== 1) {
    console.error(
      'usage: pack-offline site-agent|coordinator [--out <dir>] [--model <file>] (site-agent only)',
    );
    return 2;
  }
  if (t.name === 'coordinator' && args.model) {
    console.error('pack-offline: --model is for the site agent');
    return 2;
  }
  const base = process.env['INIT_CWD'] ?? process.cwd();
  const out = path.resolve(base, args.out!);
  let model: string | null = null;
  if (t.name === 'site-agent') {
    model = path.resolve(base, args.model ?? path.join(ROOT, 'models/casam-tiny/casam-tiny.safetensors'));
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
      copyTree(path.join(ROOT, dir), path.join(stage, dir), (rel) => !isTestFile(rel));
    let modelInfo: { preset: string; file: string; sha256: string } | undefined;
    if (model) {
      const file = 'models/casam-tiny/casam-tiny.safetensors';
      fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
      fs.copyFileSync(model, path.join(stage, file));
      modelInfo = { preset: 'casam-tiny', file, sha256: sha256File(path.join(stage, file)) };
    }
    fs.mkdirSync(path.join(stage, 'bin'));
    fs.writeFileSync(
      path.join(stage, 'bin', t.name),
      `#!/bin/sh\n# The ${t.name} of this installation (Node.js from PATH).\nexec node "$(dirname "$(readlink -f "$0")")/../${t.entry}" "$@"\n`,
      { mode: 0o755 },
    );
    step(`copied sources and packages${model ? ' and the model' : ''}`);

    const files = walk(stage)
      .map((f) => path.relative(stage, f))
      .sort();
    const sums = files.map((f) => `${sha256File(path.join(stage, f))}  ${f}`).join('\n') + '\n';
    fs.writeFileSync(path.join(stage, 'FILES.sha256'), sums);
    const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const manifest = {
      name: `casam-${t.name}`,
      command: t.name,
      version: t.version,
      protocolVersion: PROTOCOL_VERSION,
      node: rootPkg.engines.node,
      platform: `${process.platform}-${process.arch}`,
      builtAt: new Date().toISOString(),
      ...(modelInfo ? { model: modelInfo } : {}),
      packages: Object.fromEntries(pkgs.map((p) => [p.rel.replace(/^node_modules\//, ''), p.version])),
      files: files.length,
      filesSha256: createHash('sha256').update(sums).digest('hex'),
    };
    fs.writeFileSync(path.join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    step(`manifest: ${files.length} files`);

    const archive = path.join(out, `${name}.tar.gz`);
    execFileSync('tar', ['-czf', archive, '-C', stageRoot, name], { stdio: 'inherit' });
    fs.copyFileSync(path.join(stage, 'manifest.json'), path.join(out, `${name}.manifest.json`));
    fs.writeFileSync(path.join(out, 'SHA256SUMS'), `${sha256File(archive)}  ${path.basename(archive)}\n`);
    fs.copyFileSync(path.join(ROOT, 'deploy/install.sh'), path.join(out, 'install.sh'));
    fs.chmodSync(path.join(out, 'install.sh'), 0o755);
    step(
      `wrote ${archive} (${(fs.statSync(archive).size / 1024 ** 2).toFixed(1)} MiB), SHA256SUMS, install.sh; install with: ./install.sh --prefix /opt/casam-${t.name}`,
    );
    return 0;
  } finally {
    fs.rmSync(stageRoot, { recursive: true, force: true });
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof PackError) {
    console.error(`pack-offline: ${e.message}`);
    process.exitCode = 3;
  } else {
    console.error('pack-offline: internal error (this is a bug):', e);
    process.exitCode = 1;
  }
}
