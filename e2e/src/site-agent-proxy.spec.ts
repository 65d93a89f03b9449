import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { startAgentProcess } from './support/site-agent-process';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';
import {
  type ConnectProxy,
  makeCertificates,
  startConnectProxy,
  startTlsFront,
  type TlsFront,
} from './support/tls-front';

interface Report {
  ok: boolean;
  checks: { name: string; status: string; detail: string; fix?: string }[];
}

describe('site agent behind a hospital HTTPS proxy, coordinator behind TLS with a hospital CA', () => {
  let coord: CoordinatorProcess;
  let front: TlsFront;
  let ca = '';
  let proxy: ConnectProxy;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-proxy-'));
  beforeAll(async () => {
    const certs = makeCertificates(dir);
    coord = await startCoordinatorProcess();
    front = await startTlsFront(new URL(coord.url), certs.key, certs.cert);
    proxy = await startConnectProxy();
    ca = certs.ca;
  });
  afterAll(async () => {
    await proxy?.close();
    await front?.close();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls, passes preflight and keeps its socket.io connection through CONNECT tunnels; NO_PROXY bypasses', async () => {
    const home = join(dir, 'site');
    const weights = join(dir, 'tiny.safetensors');
    writeTinyBaseModel(weights, 5);
    const target = `localhost:${front.port}`;
    const env = {
      HTTPS_PROXY: proxy.url,
      https_proxy: '',
      NO_PROXY: '',
      no_proxy: '',
      NODE_EXTRA_CA_CERTS: ca,
    };
    const agent = agentRunner(home, env);
    const { siteId } = await enrollApprovedSite(coord, home, agent, {
      coordinatorUrl: `https://${target}`,
      siteName: 'Behind a proxy',
      weights,
    });
    // Every REST call of init/enroll went through the proxy, as a tunnel to the coordinator's TLS front.
    expect(proxy.connects.length).toBeGreaterThan(0);
    expect(new Set(proxy.connects)).toEqual(new Set([target]));

    const pre = await siteAgent(home, ['preflight', '--json'], { CASAM_BACKEND: 'wasm', ...env });
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);
    const checks = Object.fromEntries((JSON.parse(pre.stdout) as Report).checks.map((c) => [c.name, c]));
    expect(checks['proxy']).toMatchObject({ status: 'ok' });
    expect(checks['proxy']!.detail).toContain(`tunnels to ${target}`);
    expect(checks['dns']!.detail).toMatch(/^127\.0\.0\.1/); // the proxy's address, not the coordinator's
    expect(checks['tls']!.detail).toMatch(/certificate localhost issued by St Olav Test CA/);
    expect(checks['coordinator']!.status).toBe('ok');

    // The daemon's socket.io websocket goes through a tunnel too: the front sees the upgrade request coming
    // from the proxy's side of a tunnel, and nothing ever reached it except through the proxy.
    const daemon = startAgentProcess(home, ['daemon'], env);
    try {
      await daemon.waitFor(/connected to the coordinator/, 90_000);
    } finally {
      await daemon.stop();
    }
    const ws = front.connections.filter((c) => /^GET \S*transport=websocket/.test(c.firstLine));
    expect(ws.length).toBeGreaterThan(0);
    for (const c of front.connections) expect(proxy.upstreamPorts.has(c.remotePort), c.firstLine).toBe(true);
    const presence = (
      await coord.admin<{ presence: { agentVersion: string | null } }>('GET', `/api/v1/sites/${siteId}`)
    ).presence;
    expect(presence.agentVersion).not.toBeNull();

    // A proxy that refuses the tunnel: a clear error naming the proxy and its answer, nothing else tried.
    proxy.deny = true;
    try {
      const refused = await siteAgent(home, ['status', '--json'], env);
      const status = JSON.parse(refused.stdout) as { coordinator: { reachable: boolean; error: string } };
      expect(status.coordinator.reachable).toBe(false);
      expect(status.coordinator.error).toMatch(
        /proxy http:\/\/127\.0\.0\.1:\d+ could not open a tunnel to .*403 Forbidden.* — check HTTPS_PROXY\/NO_PROXY/,
      );
      const pf = await siteAgent(home, ['preflight'], { CASAM_BACKEND: 'wasm', ...env });
      expect(pf.code).toBe(6);
      expect(pf.stdout).toMatch(/^fail +proxy +proxy http:\/\/127\.0\.0\.1:\d+ could not open a tunnel/m);
      expect(pf.stdout).toMatch(/allow CONNECT to localhost:\d+, or list localhost in NO_PROXY/);
    } finally {
      proxy.deny = false;
    }

    // NO_PROXY=localhost: straight to the coordinator, the proxy sees nothing.
    const seen = proxy.connects.length;
    const frontSeen = front.connections.length;
    const direct = await siteAgent(home, ['status', '--json'], { ...env, NO_PROXY: 'localhost' });
    expect(JSON.parse(direct.stdout)).toMatchObject({ coordinator: { reachable: true } });
    expect(proxy.connects.length).toBe(seen);
    const after = front.connections.slice(frontSeen);
    expect(after.length).toBeGreaterThan(0);
    for (const c of after) expect(proxy.upstreamPorts.has(c.remotePort)).toBe(false);
  });
});
