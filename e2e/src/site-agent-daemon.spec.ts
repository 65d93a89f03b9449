import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import type { RotateSigningKeyResponse, SiteSummary } from '@casam/protocol';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { agentRunner, enrollApprovedSite, uploadedAdapterId, writeTinyBaseModel } from './support/site-setup';
import { type AgentProcess, startAgentProcess } from './support/site-agent-process';
import { QUICK_TRAIN_FLAGS } from './support/site-agent-cli';

describe('site-agent daemon: announced bundles, offline catch-up, coordinator restart, revocation', () => {
  let coord: CoordinatorProcess;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-daemon-'));
  const home = join(dir, 'agent');
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'dental');
  let daemon: AgentProcess | null = null;
  let siteId = '';
  let taskId = '';
  let adapterId = '';
  const agent = agentRunner(home);

  beforeAll(async () => {
    writeTinyBaseModel(weights, 6);
    await writeDomainFolder(data, 'sts-dental-xray', { count: 12, size: 128, seed: 4, preview: false });
    port = await freePort();
    coord = await startCoordinatorProcess({ env: { COORDINATOR_PORT: String(port) } });
    ({ siteId } = await enrollApprovedSite(coord, home, agent, { siteName: 'Ullevål', weights }));
    await agent(['ingest', '--task', 'teeth', '--folder', data]);
    taskId = /as ([0-9a-f-]{36})/.exec((await agent(['propose', '--task', 'teeth'])).stdout)![1];
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    await agent(['train', '--task', 'teeth', ...QUICK_TRAIN_FLAGS]);
    await agent(['upload', '--task', 'teeth', '--force']);
    adapterId = uploadedAdapterId(home, 'teeth');
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
    // ...and reported: admins see which bundle and agent the site runs.
    const site = () => coord.admin<SiteSummary>('GET', `/api/v1/sites/${siteId}`);
    await expect.poll(async () => (await site()).presence.bundleVersion, { timeout: 15_000 }).toBe(v1);
    expect((await site()).presence.agentVersion).toMatch(/^\d+\.\d+\.\d+/);

    // Published while the daemon is down → pulled on the next connect. A key rotation an admin asked for
    // meanwhile is done on that connect too, and the daemon reconnects on the new key.
    expect(await daemon.stop()).toBe(0);
    const oldKey = (await site()).keys.find((k) => k.status === 'active')!.fingerprint;
    // The coordinator's bundle-signing key is rotated too (pending, then active): the next bundle is signed by
    // a key the site never pinned, endorsed by the one it did.
    await coord.admin('POST', '/api/v1/signing-keys/rotate');
    const { key: newSigningKey } = await coord.admin<RotateSigningKeyResponse>(
      'POST',
      '/api/v1/signing-keys/rotate',
    );
    await coord.admin('POST', `/api/v1/tasks/${taskId}/retire`, { reason: 'superseded' });
    await coord.admin('POST', `/api/v1/sites/${siteId}/key-rotation-request`, {});
    daemon = startAgentProcess(home, ['daemon']);
    const rotated = await daemon.waitFor(/site key rotated: \S+ → (\S+)/);
    const second = await daemon.waitFor(/installed bundle (\d+) \(0 task/);
    expect(Number(second[1])).toBeGreaterThan(v1);
    expect(daemon.output()).toContain(`trusting coordinator signing key ${newSigningKey.kid}`);
    expect(daemon.output()).toMatch(/coordinator key\(s\) \S+ retired here/);
    const afterRotation = await site();
    expect(afterRotation.keyRotationRequestedAt).toBeNull();
    expect(afterRotation.keys.map((k) => [k.fingerprint, k.status])).toEqual([
      [rotated[1], 'active'],
      [oldKey, 'rotated'],
    ]);
    await expect
      .poll(async () => (await site()).presence.bundleVersion, { timeout: 15_000 })
      .toBe(Number(second[1]));

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
