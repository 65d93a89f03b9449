/**
 * The last step of an offline bundle (scripts/pack-offline.ts): the list of every file's sha256, the manifest,
 * a reproducible archive and its own checksum list, and install.sh next to it. Separate from the packing so a
 * test can seal a changed copy of a bundle (a re-versioned release) exactly as a real one is sealed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export class PackError extends Error {}

/** What the manifest says before the file count and list hash are added. */
export interface ManifestBase {
  name: string;
  command: string;
  version: string;
  [field: string]: unknown;
}

export function walkFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, out);
    else out.push(p);
  }
  return out;
}

export const sha256File = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** Plain code-unit order: the same on every machine and locale (localeCompare is not). */
export const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The time every file in the archive carries: SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the
 * time of the checked-out commit, so two builds of one commit agree; never the build time.
 */
export function sourceDateEpoch(root: string, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env['SOURCE_DATE_EPOCH'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^\d+$/.test(fromEnv))
      throw new PackError(`SOURCE_DATE_EPOCH must be whole seconds (got "${fromEnv}")`);
    return Number(fromEnv);
  }
  try {
    const out = execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' }).trim();
    if (/^\d+$/.test(out)) return Number(out);
  } catch {
    // Not a git checkout: fall through.
  }
  throw new PackError('not a git checkout: set SOURCE_DATE_EPOCH (seconds) to the date of these sources');
}

function requireGnuTar(): void {
  let version = '';
  try {
    version = execFileSync('tar', ['--version'], { encoding: 'utf8' });
  } catch {
    // Reported below.
  }
  if (!version.includes('GNU tar'))
    throw new PackError('GNU tar is needed (sorted entries and fixed dates make the archive reproducible)');
}

/**
 * Seals `stageRoot/name` (the bundle's files, in place): writes FILES.sha256 and manifest.json into it, then
 * `out/name.tar.gz` (entries sorted by name, every date `epoch`, owner 0:0, modes 0644/0755, gzip without a
 * name or date: the same sources give the same bytes), `out/name.tar.gz.sha256` (this bundle's own checksum
 * list, so bundles of both apps can share one folder), `out/name.manifest.json` and `out/install.sh`.
 */
export async function sealBundle(o: {
  stageRoot: string;
  name: string;
  out: string;
  manifest: ManifestBase;
  epoch: number;
  installScript: string;
}): Promise<{ archive: string; sha256: string; files: number }> {
  requireGnuTar();
  const stage = path.join(o.stageRoot, o.name);
  for (const f of ['FILES.sha256', 'manifest.json']) fs.rmSync(path.join(stage, f), { force: true });
  const files = walkFiles(stage)
    .map((f) => path.relative(stage, f).split(path.sep).join('/'))
    .sort(byCodeUnit);
  const sums = files.map((f) => `${sha256File(path.join(stage, f))}  ${f}`).join('\n') + '\n';
  fs.writeFileSync(path.join(stage, 'FILES.sha256'), sums);
  const manifest = {
    ...o.manifest,
    files: files.length,
    filesSha256: createHash('sha256').update(sums).digest('hex'),
  };
  const manifestText = JSON.stringify(manifest, null, 2) + '\n';
  fs.writeFileSync(path.join(stage, 'manifest.json'), manifestText);

  fs.mkdirSync(o.out, { recursive: true });
  const archive = path.join(o.out, `${o.name}.tar.gz`);
  const tar = spawn(
    'tar',
    [
      '--sort=name',
      `--mtime=@${o.epoch}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=u+rwX,go=rX',
      '--format=gnu',
      '-cf',
      '-',
      '-C',
      o.stageRoot,
      o.name,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const tarDone = new Promise<void>((res, rej) => {
    tar.once('error', rej);
    tar.once('close', (code) => (code === 0 ? res() : rej(new PackError(`tar exited with ${code}`))));
  });
  // Node's gzip writes no file name and a zero date in its header.
  await Promise.all([pipeline(tar.stdout, createGzip(), fs.createWriteStream(archive)), tarDone]);
  const sha256 = sha256File(archive);
  fs.writeFileSync(`${archive}.sha256`, `${sha256}  ${path.basename(archive)}\n`);
  fs.writeFileSync(path.join(o.out, `${o.name}.manifest.json`), manifestText);
  fs.copyFileSync(o.installScript, path.join(o.out, 'install.sh'));
  fs.chmodSync(path.join(o.out, 'install.sh'), 0o755);
  return { archive, sha256, files: files.length };
}
