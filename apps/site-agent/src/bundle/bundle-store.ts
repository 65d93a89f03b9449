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
import { writeFileAtomic } from '@casam/casam-core/src/io/atomic-file';

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

interface Pointer {
  current: InstalledBundle | null;
  previous: InstalledBundle | null;
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

  pointer(): Pointer {
    if (!existsSync(this.pointerFile)) return { current: null, previous: null };
    return JSON.parse(readFileSync(this.pointerFile, 'utf8')) as Pointer;
  }

  current(): InstalledBundle | null {
    return this.pointer().current;
  }

  /** The bytes of an installed bundle. */
  read(b: InstalledBundle): Uint8Array {
    return new Uint8Array(readFileSync(join(this.dir, b.file)));
  }

  partFile(contentHash: string): string {
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
    const file = `bundle-${String(manifest.bundleVersion).padStart(6, '0')}-${contentHash.slice(0, 16)}.tar`;
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
    this.prune();
    return installed;
  }

  /** Makes the previous bundle current again (and the current one previous). */
  rollback(): InstalledBundle {
    const p = this.pointer();
    if (!p.previous) throw new Error('there is no previous bundle to roll back to');
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
