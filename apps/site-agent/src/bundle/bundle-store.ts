import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { BundleManifest } from '@casam/protocol';
import { writeFileAtomic } from '@casam/casam-core';
import { printable } from '../cli/printable';

/** A bundle's content hash as the coordinator lists it and this store names files by it: lowercase hex sha256. */
export const CONTENT_HASH = /^[0-9a-f]{64}$/;

/** The archive file name of an installed bundle: derived from its version and hash, never taken from outside. */
export function bundleFileName(version: number, contentHash: string): string {
  if (!Number.isSafeInteger(version) || version < 1)
    throw new Error(`bundle version ${printable(version)} is not a positive integer`);
  if (!CONTENT_HASH.test(contentHash))
    throw new Error(`bundle hash ${printable(contentHash)} is not a lowercase hex sha256`);
  return `bundle-${String(version).padStart(6, '0')}-${contentHash.slice(0, 16)}.tar`;
}

/** One installed bundle. */
export interface InstalledBundle {
  version: number;
  contentHash: string;
  /** Archive file name inside the bundles folder. */
  file: string;
  installedAt: string;
  kid: string;
  taskCount: number;
}

export interface Pointer {
  current: InstalledBundle | null;
  previous: InstalledBundle | null;
  /**
   * Set when `current.json` could not be read as written (truncated, edited, disk damage): what was wrong. The
   * entries that did not check out are null, so callers fall back (previous bundle, or frozen SAM) instead of
   * failing.
   */
  damage?: string;
}

/** Why an entry of `current.json` cannot be used, or null when it can. */
function entryProblem(e: unknown): string | null {
  if (e === null) return null;
  if (typeof e !== 'object' || Array.isArray(e)) return 'not an object';
  const b = e as Partial<InstalledBundle>;
  if (!Number.isSafeInteger(b.version) || (b.version as number) < 1)
    return 'version is not a positive integer';
  if (typeof b.contentHash !== 'string' || !CONTENT_HASH.test(b.contentHash))
    return 'contentHash is not a lowercase hex sha256';
  // The file must be the one this store would have named: nothing else in (or outside) the folder is ever read.
  if (b.file !== bundleFileName(b.version as number, b.contentHash))
    return 'file does not match version and hash';
  if (typeof b.kid !== 'string' || typeof b.installedAt !== 'string') return 'kid or installedAt missing';
  if (!Number.isSafeInteger(b.taskCount) || (b.taskCount as number) < 0) return 'taskCount is not a count';
  return null;
}

/**
 * The site's router bundles on disk: verified archives named by version and hash, and `current.json` saying
 * which one is in use and which one was before it. Installing and rolling back replace `current.json`
 * atomically, so a crash leaves either the old or the new bundle in use, never a mix. Downloads in progress are
 * `.part` files kept across runs (resumed with HTTP ranges).
 */
export class BundleStore {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'downloads'), { recursive: true });
  }

  private get pointerFile(): string {
    return join(this.dir, 'current.json');
  }

  /** `current.json`, checked: a damaged file or entry is reported in `damage`, never thrown. */
  pointer(): Pointer {
    if (!existsSync(this.pointerFile)) return { current: null, previous: null };
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.pointerFile, 'utf8'));
    } catch (e) {
      return {
        current: null,
        previous: null,
        damage: `${this.pointerFile} is corrupt (${printable((e as Error).message)})`,
      };
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      return { current: null, previous: null, damage: `${this.pointerFile} is corrupt (not a JSON object)` };
    const out: Pointer = { current: null, previous: null };
    const problems: string[] = [];
    for (const which of ['current', 'previous'] as const) {
      const entry = (raw as Record<string, unknown>)[which] ?? null;
      const problem = entryProblem(entry);
      if (problem) problems.push(`its ${which} entry is unusable (${problem})`);
      else out[which] = entry as InstalledBundle | null;
    }
    if (problems.length) out.damage = `${this.pointerFile} is damaged: ${problems.join('; ')}`;
    return out;
  }

  current(): InstalledBundle | null {
    return this.pointer().current;
  }

  /** The bytes of an installed bundle. */
  read(b: InstalledBundle): Uint8Array {
    return new Uint8Array(readFileSync(join(this.dir, bundleFileName(b.version, b.contentHash))));
  }

  /** The download of a bundle in progress. The hash comes from the coordinator's listing: checked, never a path. */
  partFile(contentHash: string): string {
    if (!CONTENT_HASH.test(contentHash))
      throw new Error(
        `refusing to name a download after ${printable(contentHash)}: not a lowercase hex sha256`,
      );
    return join(this.dir, 'downloads', `${contentHash}.part`);
  }

  partSize(contentHash: string): number {
    const f = this.partFile(contentHash);
    return existsSync(f) ? statSync(f).size : 0;
  }

  /** Appends downloaded bytes to the `.part` file (flushed, so a crash keeps what was written). */
  appendPart(contentHash: string, bytes: Uint8Array): void {
    const fd = openSync(this.partFile(contentHash), 'a', 0o600);
    try {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    } finally {
      closeSync(fd);
    }
  }

  discardPart(contentHash: string): void {
    rmSync(this.partFile(contentHash), { force: true });
  }

  /** Moves a verified download into place and makes it current; the one in use becomes `previous`. */
  install(contentHash: string, manifest: BundleManifest, kid: string): InstalledBundle {
    const file = bundleFileName(manifest.bundleVersion, contentHash);
    renameSync(this.partFile(contentHash), join(this.dir, file));
    const installed: InstalledBundle = {
      version: manifest.bundleVersion,
      contentHash,
      file,
      installedAt: new Date().toISOString(),
      kid,
      taskCount: manifest.tasks.length,
    };
    const p = this.pointer();
    writeFileAtomic(
      this.pointerFile,
      JSON.stringify({ current: installed, previous: p.current }, null, 2) + '\n',
    );
    // After a damaged pointer, archives it no longer names are left for a person to recover from.
    if (!p.damage) this.prune();
    return installed;
  }

  /** Makes the previous bundle current again (and the current one previous). */
  rollback(): InstalledBundle {
    const p = this.pointer();
    if (!p.previous)
      throw new Error(`there is no previous bundle to roll back to${p.damage ? ` (${p.damage})` : ''}`);
    writeFileAtomic(
      this.pointerFile,
      JSON.stringify({ current: p.previous, previous: p.current }, null, 2) + '\n',
    );
    return p.previous;
  }

  /** Deletes archives that are neither current nor previous. */
  private prune(): void {
    const p = this.pointer();
    const keep = new Set([p.current?.file, p.previous?.file]);
    for (const f of readdirSync(this.dir))
      if (f.endsWith('.tar') && !keep.has(f)) rmSync(join(this.dir, f), { force: true });
  }
}
