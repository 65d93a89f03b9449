// Every regular file under a folder, recursively, in a stable order. PACS exports nest studies/series in
// folders with or without ".dcm" names; DICOMDIR indexes are skipped (they describe files, they are none).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** `dir` may also be one file (`segment --image x.dcm`): then that file is the list. */
export async function walkFiles(dir: string): Promise<string[]> {
  if ((await stat(dir)).isFile()) return [dir];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walkFiles(path)));
    else if (entry.isFile() && entry.name.toUpperCase() !== 'DICOMDIR' && !entry.name.startsWith('.'))
      files.push(path);
  }
  return files;
}
