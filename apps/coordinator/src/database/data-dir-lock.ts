import fs from 'node:fs';
import path from 'node:path';

/** The embedded database is already open in another live process. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database is in use by process ${pid} (${lockPath}); stop that coordinator first, ` +
        'or point both at a real Postgres with DATABASE_URL (if no coordinator is running, delete the lock file)',
    );
  }
}

/**
 * A pid file that keeps two processes from opening the same PGlite directory (PGlite has no locking of its
 * own, and two writers would corrupt it). A lock left by a dead process is taken over.
 */
export class DataDirLock {
  /** Locks this process holds: a lock file with our own pid that is not in here is stale (pid reuse). */
  private static readonly held = new Set<string>();

  private constructor(private readonly lockPath: string) {}

  static acquire(lockPath: string): DataDirLock {
    const key = path.resolve(lockPath);
    if (DataDirLock.held.has(key)) throw new DataDirLockedError(lockPath, process.pid);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(key, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        DataDirLock.held.add(key);
        return new DataDirLock(key);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number.parseInt(readOrEmpty(key), 10);
      if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid))
        throw new DataDirLockedError(lockPath, pid);
      // Stale: its process is gone, or it is our own pid reused after a crash (e.g. pid 1 in a container).
      fs.rmSync(key, { force: true });
    }
    throw new Error(`could not take the lock ${lockPath}`);
  }

  release(): void {
    if (!DataDirLock.held.delete(this.lockPath)) return;
    if (readOrEmpty(this.lockPath).trim() === String(process.pid)) fs.rmSync(this.lockPath, { force: true });
  }
}

function readOrEmpty(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
