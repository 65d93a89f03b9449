import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { CreatedEnrollmentToken } from '@casam/protocol';
// The coordinator's own test kit (a real `coordinator serve` process on the embedded database, with an admin),
// shared with e2e, the benchmarks and the demo; the use-case specs run the agent's side in-process against it
// (allowed for the site agent's test files only: SITE_AGENT_TEST_KITS in eslint.config.mjs).
import { type CoordinatorProcess, startCoordinatorProcess } from '@casam/coordinator/testing';
import { type AgentContext, openAgent } from '../use-cases/agent-context';
import { enrollmentDecision, enrollSite } from '../use-cases/enroll-site';
import { initHome, newAgentHome } from '../use-cases/init-home';
import { TaskStore } from '../tasks/local-task';
import { writeRandomTinyModel } from './agent-cli.testing';

export type { CoordinatorProcess };

const quiet = () => undefined;

/**
 * A real coordinator process for the calling suite (started before its tests, stopped after them) and a temp
 * folder for the suite's agent homes (deleted after).
 */
export function coordinatorForSuite(prefix: string): { coord: () => CoordinatorProcess; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let coord: CoordinatorProcess | undefined;
  beforeAll(async () => {
    coord = await startCoordinatorProcess();
  }, 180_000);
  afterAll(async () => {
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    coord: () => {
      if (!coord) throw new Error('the coordinator has not started');
      return coord;
    },
  };
}

/** An agent home made by the init use case for `coordinatorUrl` (a random casam-tiny base model), opened. */
export async function initTestHome(
  home: string,
  coordinatorUrl: string,
  siteName: string,
): Promise<AgentContext> {
  const weights = join(home, '..', `${siteName.replace(/\W+/g, '-')}.safetensors`);
  writeRandomTinyModel(weights);
  await initHome(newAgentHome(home, { force: false, preset: 'casam-tiny' }), {
    coordinatorUrl,
    siteName,
    preset: 'casam-tiny',
    weights,
    backend: 'wasm',
    serve: { host: '127.0.0.1', port: 0 },
    pacs: [],
    log: quiet,
  });
  return openAgent(home);
}

/** A fresh one-time enrollment token from the coordinator's admin. */
export async function enrollmentToken(coord: CoordinatorProcess): Promise<string> {
  return (await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {})).token;
}

/**
 * A site as the admin leaves it after `init`, `enroll` and approval with the fingerprint the hospital read out
 * (through the use cases, in this process).
 */
export async function enrolledTestSite(
  coord: CoordinatorProcess,
  home: string,
  siteName: string,
): Promise<AgentContext & { siteId: string }> {
  const ctx = await initTestHome(home, coord.url, siteName);
  const r = await enrollSite(ctx, () => enrollmentToken(coord));
  await coord.admin('POST', `/api/v1/sites/${r.siteId}/approve`, {
    keyFingerprint: ctx.identity.fingerprint,
  });
  if ((await enrollmentDecision(ctx, 5)) !== 'approved') throw new Error(`site ${r.siteId} was not approved`);
  return Object.assign(ctx, { siteId: r.siteId });
}

/** A task record as `ingest` writes it (no images: what propose and status read). */
export function writeTestTask(ctx: AgentContext, name: string, structures = ['liver']): void {
  new TaskStore(ctx.home).write({
    version: 1,
    name,
    modality: 'CT',
    structures,
    source: { kind: 'folder', paths: ['/data/none'] },
    indexedAt: new Date().toISOString(),
    counts: { train: 0, val: 0, test: 0, problems: 0 },
  });
}
