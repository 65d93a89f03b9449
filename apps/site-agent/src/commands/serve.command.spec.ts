import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRgbPng } from '@casam/casam-core';
import { AgentHome } from '../home/agent-home';
import { baseModelFingerprint } from '../model/engine-factory';
import { agentCli, initOfflineHome, type CliRun, writeRandomTinyModel } from '../testing/agent-cli.testing';
import { installTestBundle, testSigner } from '../testing/signed-bundle.testing';

/** The real `site-agent serve` process beside real `rollback` runs, on one agent home. */
describe('site-agent serve (real process): bundle swaps without requests, damage, names in any script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-cli-'));
  const home = new AgentHome(join(dir, 'home'));
  let serve: ReturnType<typeof agentCli>;
  let url = '';
  const health = async () =>
    (await (await fetch(`${url}/healthz`)).json()) as { bundleVersion: number | null; served: number };
  /** Polls /healthz (and nothing else) until it reports `version`; the versions seen meanwhile. */
  const waitForVersion = async (version: number | null, ms = 10_000) => {
    const seen: (number | null)[] = [];
    for (const until = Date.now() + ms; Date.now() < until;) {
      const h = await health();
      seen.push(h.bundleVersion);
      if (h.bundleVersion === version) return { seen, served: h.served };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`healthz never reported bundle ${version}; saw ${seen.join(',')}`);
  };
  const png = encodeRgbPng({
    width: 96,
    height: 80,
    data: new Uint8Array(96 * 80 * 3).map((_, i) => (i * 5) % 253),
  });

  beforeAll(async () => {
    const weights = join(dir, 'tiny.safetensors');
    writeRandomTinyModel(weights);
    await initOfflineHome(home.dir, 'Serve site', weights);
    const base = baseModelFingerprint(home, home.readConfig());
    const signer = await testSigner();
    await installTestBundle(home, 1, signer, { base, tau: 1e9, task: { name: 'Liver CT' } });
    await installTestBundle(home, 2, signer, { base, tau: 1e9, task: { name: '🫁 lungs · 肺 · Лёгкие' } });
    serve = agentCli(home.dir, ['serve', '--port', '0']);
    let out = '';
    url = await new Promise<string>((resolve, reject) => {
      serve.child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      void serve.then((r: CliRun) => reject(new Error(`serve exited ${r.code}: ${r.stderr}`)));
    });
  }, 90_000);
  afterAll(async () => {
    serve?.child.kill('SIGTERM');
    await serve;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers image mode for a task named outside Latin-1, the decision in an ASCII header', async () => {
    const r = await fetch(`${url}/v1/segment?box=10,10,60,50`, {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png', accept: 'image/png' },
    });
    expect(r.status).toBe(200);
    const header = r.headers.get('x-casam-decision')!;
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(header)).toMatchObject({ bundleVersion: 2, taskName: '🫁 lungs · 肺 · Лёгкие' });
  }, 60_000);

  it('shows a rollback on /healthz without any segment request, and the new bundle again after it', async () => {
    const before = await health();
    expect(before.bundleVersion).toBe(2);
    const rb = await agentCli(home.dir, ['rollback']);
    expect(rb.code, rb.stderr).toBe(0);
    const back = await waitForVersion(1);
    expect(back.served).toBe(before.served); // no request was needed for the swap
    const again = await agentCli(home.dir, ['rollback']);
    expect(again.code, again.stderr).toBe(0);
    await waitForVersion(2);
  }, 60_000);

  it('keeps answering with frozen SAM when current.json is corrupted under it, and recovers when it is fixed', async () => {
    const pointer = join(home.bundlesDir, 'current.json');
    const good = readFileSync(pointer, 'utf8');
    writeFileSync(pointer, '{"current": {"vers');
    await waitForVersion(null);
    const r = await fetch(`${url}/v1/segment?box=10,10,60,50`, {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ decision: 'fallback', bundleVersion: null });
    writeFileSync(pointer, good);
    await waitForVersion(2);
    serve.child.kill('SIGTERM');
    const done = await serve;
    expect(done.stderr).toMatch(/warning: .*current\.json is corrupt/);
    expect(done.stderr).not.toMatch(/internal error/);
  }, 60_000);
});
