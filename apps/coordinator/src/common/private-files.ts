import fs from 'node:fs';
import path from 'node:path';

/**
 * The coordinator's local state (the secret, the embedded database, file-system blobs) is for its own user
 * only: directories 0700, files 0600 (0400 read-only). Other local users must not read a secret or a catalog
 * page, let alone overwrite one.
 */

/** Permission bits of the group and of everyone else. */
const OPEN_BITS = 0o077;

/**
 * Creates `dir` and any missing parents with mode 0700. A mode given to mkdir is only ever narrowed by the
 * umask, so whatever the umask, nothing created here is open to others. An existing directory is left as it
 * is (`coordinator preflight` fails on one that is open).
 */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Takes the group and world bits off everything under `root` (itself included; symbolic links are not
 * followed). For trees the coordinator alone writes: PGlite unpacks its initial cluster with mode 0666 files
 * and 0755 directories whatever the umask, and writes some files later (`pg_internal.init`) through the umask.
 */
export function restrictTree(root: string): void {
  for (const { path: p, mode } of walk(root))
    if (mode & OPEN_BITS) fs.chmodSync(p, mode & ~OPEN_BITS & 0o7777);
}

/**
 * Entries under `root` (itself included) that the group or others may use, first `limit` of them, and how
 * many there are in all. Symbolic links are not followed (their own mode means nothing).
 */
export function openToOthers(
  root: string,
  limit = 5,
): { count: number; examples: { path: string; mode: number }[] } {
  let count = 0;
  const examples: { path: string; mode: number }[] = [];
  for (const e of walk(root))
    if (e.mode & OPEN_BITS) {
      count++;
      if (examples.length < limit) examples.push({ path: e.path, mode: e.mode & 0o777 });
    }
  return { count, examples };
}

/** Every entry under `root` with its permission bits; an explicit stack, so a deep tree cannot overflow. */
function* walk(root: string): Generator<{ path: string; mode: number }> {
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while walking
      throw e;
    }
    if (st.isSymbolicLink()) continue;
    yield { path: p, mode: st.mode & 0o7777 };
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) stack.push(path.join(p, name));
  }
}
