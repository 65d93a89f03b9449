import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../../../..');
const SCHEMA = path.join(REPO_ROOT, 'prisma', 'schema.prisma');
const GENERATED_SCHEMA = path.join(REPO_ROOT, 'node_modules', '.prisma', 'client', 'schema.prisma');

/** True when node_modules holds a Prisma client generated from the current prisma/schema.prisma. */
export function prismaClientIsFresh(): boolean {
  try {
    return fs.readFileSync(GENERATED_SCHEMA, 'utf8') === fs.readFileSync(SCHEMA, 'utf8');
  } catch {
    return false;
  }
}

/**
 * Runs `prisma generate` (about a second, no network: prisma.config.ts selects the JS engine) when the
 * generated client is missing or older than the schema. Must run before anything loads `@prisma/client`.
 */
export function ensurePrismaClient(): 'fresh' | 'generated' {
  if (prismaClientIsFresh()) return 'fresh';
  const cli = require.resolve('prisma/build/index.js');
  const r = spawnSync(process.execPath, [cli, 'generate'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prisma generate failed:\n${r.stdout}\n${r.stderr}`);
  return 'generated';
}
