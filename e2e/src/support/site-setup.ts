import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getPreset, randomSamStateDict, writeSafetensors } from '@casam/casam-core';
import type { CreatedEnrollmentToken } from '@casam/protocol';
import type { CoordinatorProcess } from './coordinator-process';
import { siteAgent, type CliResult } from './site-agent-cli';

/** `site-agent <args>` in `home` on the wasm backend; throws with the output on a non-zero exit. */
export function agentRunner(
  home: string,
  env: NodeJS.ProcessEnv = {},
): (args: string[]) => Promise<CliResult> {
  return async (args) => {
    const r = await siteAgent(home, args, { CASAM_BACKEND: 'wasm', ...env });
    if (r.code !== 0) throw new Error(`site-agent ${args.join(' ')} → ${r.code}\n${r.stderr}\n${r.stdout}`);
    return r;
  };
}

/** A casam-tiny base model with seeded random weights (the real one is being pretrained). */
export function writeTinyBaseModel(path: string, seed: number, preset = 'casam-tiny'): void {
  writeFileSync(path, writeSafetensors([...randomSamStateDict(getPreset(preset), seed).entries()]));
}

/**
 * `init` + `enroll` with a fresh enrollment token, then the admin approves the site with the fingerprint the
 * agent printed — the enrollment as hospital IT and the admin do it.
 */
export async function enrollApprovedSite(
  coord: CoordinatorProcess,
  home: string,
  agent: (args: string[]) => Promise<CliResult>,
  opts: { coordinatorUrl?: string; siteName: string; weights: string },
): Promise<{ siteId: string; fingerprint: string }> {
  const init = await agent([
    'init',
    '--coordinator',
    opts.coordinatorUrl ?? coord.url,
    '--site-name',
    opts.siteName,
    '--preset',
    'casam-tiny',
    '--weights',
    opts.weights,
  ]);
  const fingerprint = /fingerprint: (\S+)/.exec(init.stdout)![1];
  const token = await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {});
  await agent(['enroll', '--token', token.token]);
  const siteId = (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { siteId: string }).siteId;
  await coord.admin('POST', `/api/v1/sites/${siteId}/approve`, { keyFingerprint: fingerprint });
  return { siteId, fingerprint };
}

/** The adapter version the last `upload` of a task created (from the agent's task record). */
export function uploadedAdapterId(home: string, task: string): string {
  return (
    JSON.parse(readFileSync(join(home, 'tasks', task, 'task.json'), 'utf8')) as {
      upload: { adapterVersionId: string };
    }
  ).upload.adapterVersionId;
}
