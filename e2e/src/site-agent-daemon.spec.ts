import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPreset, randomSamStateDict, writeDomainFolder, writeSafetensors } from '@casam/casam-core';
import type { CreatedEnrollmentToken } from '@casam/protocol';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { type AgentProcess, startAgentProcess } from './support/site-agent-process';

describe('site-agent daemon: announced bundles, offline catch-up, coordinator restart, revocation', () => {
  let coord: CoordinatorProcess;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-daemon-'));
  const home = join(dir, 'agent');
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'dental');
  const env = { CASAM_BACKEND: 'wasm' };
  let daemon: AgentProcess | null = null;
  let siteId = '';
  let taskId = '';
  let adapterId = '';
  const agent = async (args: string[]) => {
    const r = await siteAgent(home, args, env);
    if (r.code !== 0) throw new Error(`site-agent ${args.join(' ')} → ${r.code}\n${r.stderr}\n${r.stdout}`);
    return r;
  };

  beforeAll(async () => {
    writeFileSync(weights, writeSafetensors([...randomSamStateDict(getPreset('casam-tiny'), 6).entries()]));
    await writeDomainFolder(data, 'sts-dental-xray', { count: 12, size: 128, seed: 4, preview: false });
    port = await freePort();
    coord = await startCoordinatorProcess({ env: { COORDINATOR_PORT: String(port) } });
    const fp = /fingerprint: (\S+)/.exec(
      (await agent(['init', '--coordinator', coord.url, '--site-name', 'Ullevål', '--weights', weights]))
        .stdout,
    )![1];
    const token = await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {});
    await agent(['enroll', '--token', token.token]);
    siteId = (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { siteId: string }).siteId;
    await coord.admin('POST', `/api/v1/sites/${siteId}/approve`, { keyFingerprint: fp });
    await agent(['ingest', '--task', 'teeth', '--folder', data]);
    taskId = /as ([0-9a-f-]{36})/.exec((await agent(['propose', '--task', 'teeth'])).stdout)![1];
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    await agent(['train', '--task', 'teeth', '--epochs', '1', '--vae-epochs', '2', '--max-images', '6']);
    await agent(['upload', '--task', 'teeth']);
    adapterId = (
      JSON.parse(readFileSync(join(home, 'tasks', 'teeth', 'task.json'), 'utf8')) as {
        upload: { adapterVersionId: string };
      }
    ).upload.adapterVersionId;
  });
  afterAll(async () => {
    await daemon?.stop();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls what is announced, catches up after being offline, survives a coordinator restart, stops when revoked', async () => {
    daemon = startAgentProcess(home, ['daemon']);
    await daemon.waitFor(/connected to the coordinator/);

    // Announced while connected → pulled.
    await coord.admin('POST', `/api/v1/adapters/${adapterId}/approve`);
    const first = await daemon.waitFor(/installed bundle (\d+) \(1 task/);
    const v1 = Number(first[1]);

    // Published while the daemon is down → pulled on the next connect.
    expect(await daemon.stop()).toBe(0);
    await coord.admin('POST', `/api/v1/tasks/${taskId}/retire`, { reason: 'superseded' });
    daemon = startAgentProcess(home, ['daemon']);
    const second = await daemon.waitFor(/installed bundle (\d+) \(0 task/);
    expect(Number(second[1])).toBeGreaterThan(v1);

    // The coordinator restarts under the daemon: it reconnects with backoff, on its own.
    const mark = daemon.output().length;
    await coord.stop('SIGTERM', true);
    await daemon.waitFor(/reconnecting in/, 30_000, mark);
    coord = await startCoordinatorProcess({ env: { COORDINATOR_PORT: String(port) }, restartOf: coord });
    await daemon.waitFor(/connected to the coordinator/, 60_000, mark);

    // Revocation: the coordinator drops the socket and the daemon stops for good.
    await coord.admin('POST', `/api/v1/sites/${siteId}/revoke`, { reason: 'decommissioned' });
    await daemon.waitFor(/refuses this site/, 30_000, mark);
    expect(await daemon.stop()).toBe(3);
  });
});
