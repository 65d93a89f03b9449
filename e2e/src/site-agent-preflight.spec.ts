import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { makeCertificates, startTlsFront, type TlsFront } from './support/tls-front';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';

interface Report {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail' | 'skip'; detail: string; fix?: string }[];
}
const byName = (r: Report) => Object.fromEntries(r.checks.map((c) => [c.name, c]));

describe('site-agent preflight', () => {
  let coord: CoordinatorProcess;
  let front: TlsFront;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-preflight-'));
  let certs: ReturnType<typeof makeCertificates>;
  beforeAll(async () => {
    certs = makeCertificates(dir);
    coord = await startCoordinatorProcess();
    front = await startTlsFront(new URL(coord.url), certs.key, certs.cert);
  });
  afterAll(async () => {
    await front?.close();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('behind a TLS front with a hospital CA: fails with what to fix without the CA, passes with it', async () => {
    const home = join(dir, 'tls-site');
    const weights = join(dir, 'tiny.safetensors');
    writeTinyBaseModel(weights, 3);
    const url = `https://localhost:${front.port}`;
    const withoutCa = { CASAM_BACKEND: 'wasm', NODE_EXTRA_CA_CERTS: '' };
    const init = await siteAgent(
      home,
      [
        'init',
        '--coordinator',
        url,
        '--site-name',
        'TLS site',
        '--preset',
        'casam-tiny',
        '--weights',
        weights,
      ],
      withoutCa,
    );
    expect(init.code, init.stderr).toBe(0);

    const bad = await siteAgent(home, ['preflight', '--json'], withoutCa);
    expect(bad.code, bad.stderr).toBe(6);
    const b = byName(JSON.parse(bad.stdout) as Report);
    expect(b['dns']!.status).toBe('ok');
    expect(b['tcp']!.status).toBe('ok');
    expect(b['tls']).toMatchObject({ status: 'fail' });
    expect(b['tls']!.fix).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(b['coordinator']!.status).toBe('skip');
    // The same failure in text form, one line per check and what to do.
    const text = await siteAgent(home, ['preflight'], withoutCa);
    expect(text.code).toBe(6);
    expect(text.stdout).toMatch(/^fail +tls +TLS with localhost:\d+ failed: .*certificate/m);
    expect(text.stdout).toMatch(/→ .*NODE_EXTRA_CA_CERTS/);
    expect(text.stdout).toMatch(/preflight: 1 check\(s\) failed \(tls\)/);
    // A command that talks to the coordinator says the same, once, without retrying.
    const enroll = await siteAgent(home, ['enroll', '--token', 'cset_' + 'x'.repeat(43)], withoutCa);
    expect(enroll.code).toBe(5);
    expect(enroll.stderr).toMatch(/does not trust the coordinator's certificate: set NODE_EXTRA_CA_CERTS=/);

    // With the hospital CA trusted, the agent enrolls through the TLS front and preflight passes.
    const withCa = { NODE_EXTRA_CA_CERTS: certs.ca };
    const agent = agentRunner(home, withCa);
    rmSync(home, { recursive: true, force: true });
    await enrollApprovedSite(coord, home, agent, { coordinatorUrl: url, siteName: 'TLS site', weights });
    const good = await siteAgent(home, ['preflight', '--json'], { CASAM_BACKEND: 'wasm', ...withCa });
    expect(good.code, good.stdout + good.stderr).toBe(0);
    const report = JSON.parse(good.stdout) as Report;
    expect(report.ok).toBe(true);
    const g = byName(report);
    expect(Object.keys(g)).toEqual(
      expect.arrayContaining([
        'config',
        'home',
        'disk',
        'key',
        'enrollment',
        'ca',
        'dns',
        'tcp',
        'tls',
        'coordinator',
        'clock',
        'backend',
        'model',
      ]),
    );
    expect(g['ca']!.detail).toMatch(/plus 1 from NODE_EXTRA_CA_CERTS=.*St Olav Test CA/);
    // The certificate expires in 10 days: works, but the operator is told to renew it.
    expect(g['tls']).toMatchObject({ status: 'warn' });
    expect(g['tls']!.detail).toMatch(/certificate localhost issued by St Olav Test CA/);
    expect(g['coordinator']).toMatchObject({ status: 'ok' });
    expect(g['clock']).toMatchObject({ status: 'ok' });
    expect(g['enrollment']).toMatchObject({ status: 'ok' });
    expect(g['backend']!.detail).toMatch(/^wasm/);
    expect(g['model']).toMatchObject({ status: 'ok' });
    expect(g['model']!.detail).toMatch(/fingerprint sha256:[0-9a-f]{64}/);
    // The health request went through the egress log like every other message.
    expect(readFileSync(join(home, 'egress.log'), 'utf8')).toMatch(/read_health/);
  });

  it('names every broken thing of a badly set-up machine, and what to do', async () => {
    const home = join(dir, 'broken-site');
    const port = await freePort(); // nothing listens there
    const env = { CASAM_BACKEND: 'wasm', NODE_EXTRA_CA_CERTS: '' };
    const init = await siteAgent(
      home,
      [
        'init',
        '--coordinator',
        `http://127.0.0.1:${port}`,
        '--site-name',
        'Broken',
        '--weights',
        join(dir, 'missing.safetensors'),
      ],
      env,
    );
    expect(init.code, init.stderr).toBe(0);
    chmodSync(join(home, 'keys', 'site-key.jwk'), 0o644);
    const notPem = join(dir, 'not-a-ca.pem');
    writeFileSync(notPem, 'hello\n');
    const r = await siteAgent(home, ['preflight', '--json'], { ...env, NODE_EXTRA_CA_CERTS: notPem });
    expect(r.code, r.stderr).toBe(6);
    const c = byName(JSON.parse(r.stdout) as Report);
    expect(c['config']!.status).toBe('ok');
    expect(c['home']!.status).toBe('ok');
    expect(c['key']).toMatchObject({ status: 'fail' });
    expect(c['key']!.fix).toMatch(/chmod 600/);
    expect(c['ca']).toMatchObject({ status: 'fail' });
    expect(c['ca']!.detail).toMatch(/no PEM certificate/);
    expect(c['enrollment']!.status).toBe('warn');
    expect(c['tcp']).toMatchObject({ status: 'fail' });
    expect(c['tcp']!.fix).toMatch(/nothing listens on 127\.0\.0\.1:\d+/);
    expect(c['tls']!.status).toBe('warn'); // plain http
    expect(c['coordinator']!.status).toBe('skip');
    expect(c['model']).toMatchObject({ status: 'fail' });
    expect(c['model']!.detail).toMatch(/base-model weights not found/);

    // --offline leaves the network out; a home without a configuration fails on that first.
    const empty = join(dir, 'empty-home');
    const off = await siteAgent(empty, ['preflight', '--offline', '--json'], env);
    expect(off.code).toBe(6);
    const o = byName(JSON.parse(off.stdout) as Report);
    expect(o['config']).toMatchObject({ status: 'fail' });
    expect(o['config']!.fix).toMatch(/site-agent init/);
    expect(o['network']!.status).toBe('skip');
    expect(o['tcp']).toBeUndefined();
  });
});
