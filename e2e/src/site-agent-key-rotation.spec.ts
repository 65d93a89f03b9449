import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiteSummary } from '@casam/protocol';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';

describe('site-agent rotate-key against a real coordinator process', () => {
  let coord: CoordinatorProcess;
  let port: number;
  const home = mkdtempSync(join(tmpdir(), 'casam-e2e-rotate-'));
  const agent = agentRunner(home);
  const keyFile = join(home, 'keys', 'site-key.jwk');
  const nextFile = join(home, 'keys', 'site-key.next.jwk');
  const previousFile = join(home, 'keys', 'site-key.previous.jwk');
  let siteId = '';

  beforeAll(async () => {
    port = await freePort();
    coord = await startCoordinatorProcess({ env: { COORDINATOR_PORT: String(port) } });
    const weights = join(home, 'tiny.safetensors');
    writeTinyBaseModel(weights, 3);
    ({ siteId } = await enrollApprovedSite(coord, home, agent, { siteName: 'Haukeland', weights }));
  });
  afterAll(async () => {
    await coord?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const site = () => coord.admin<SiteSummary>('GET', `/api/v1/sites/${siteId}`);
  const keys = async () => (await site()).keys.map((k) => [k.fingerprint, k.status]);

  it('rotates: the new key signs from now on, the old one is kept and stays valid for its grace period', async () => {
    const [[k1]] = await keys();
    const r = await agent(['rotate-key']);
    const [, from, to] = /site key rotated: (\S+) → (\S+); the previous key works until/.exec(r.stdout)!;
    expect(from).toBe(k1);
    expect(await keys()).toEqual([
      [to, 'active'],
      [k1, 'rotated'],
    ]);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(previousFile).mode & 0o777).toBe(0o600);
    expect(existsSync(nextFile)).toBe(false);
    // the agent authenticates with the new key: status reaches the coordinator as approved
    expect(JSON.parse((await agent(['status', '--json'])).stdout)).toMatchObject({
      coordinator: { reachable: true, enrollment: 'approved' },
    });
  });

  it('finishes a rotation interrupted after the coordinator registered the new key', async () => {
    const before = await keys();
    const current = readFileSync(keyFile);
    await agent(['rotate-key']);
    const [[registered]] = await keys();
    // put the files back the way a crash between registration and the swap leaves them
    renameSync(keyFile, nextFile);
    copyFileSync(previousFile, keyFile);
    expect(readFileSync(keyFile)).toEqual(current);
    const r = await agent(['rotate-key']);
    expect(r.stderr + r.stdout).toMatch(/finishing an interrupted key rotation/);
    expect((await keys())[0]).toEqual([registered, 'active']);
    expect(await keys()).toHaveLength(before.length + 1); // no extra key was registered
    expect(existsSync(nextFile)).toBe(false);
  });

  it('keeps the current key when the coordinator is down, and reuses the new key on the next try', async () => {
    const before = await keys();
    const current = readFileSync(keyFile);
    await coord.stop('SIGTERM', true);
    const down = await siteAgent(home, ['rotate-key'], { CASAM_BACKEND: 'wasm' });
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/cannot reach the coordinator.*the current key stays in use/);
    expect(readFileSync(keyFile)).toEqual(current);
    expect(existsSync(nextFile)).toBe(true);
    const pending = readFileSync(nextFile);
    coord = await startCoordinatorProcess({ env: { COORDINATOR_PORT: String(port) }, restartOf: coord });
    await agent(['rotate-key']);
    expect(readFileSync(keyFile)).toEqual(pending);
    expect(await keys()).toHaveLength(before.length + 1);
  });
});
