import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleStore } from '../bundle/bundle-store';
import { AgentHome } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import { writeRandomTinyModel } from '../testing/agent-cli.testing';
import {
  sha256Hex,
  signedTestBundle,
  testAdapterFile,
  type TestSigner,
  testSigner,
} from '../testing/signed-bundle.testing';
import { type CheckResult, runSitePreflight } from './site-preflight';

const byName = (r: CheckResult[]) => Object.fromEntries(r.map((c) => [c.name, c]));

describe('site preflight: the base model against the installed bundle (no network)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-preflight-'));
  const home = new AgentHome(join(dir, 'home'));
  let signer: TestSigner;
  let store: BundleStore;

  /** Installs a bundle signed by the pinned coordinator key, trained against base model `base`. */
  async function install(version: number, base: string): Promise<void> {
    const adapter = testAdapterFile(base, version);
    const { archive, manifest } = await signedTestBundle(version, signer, { base, adapter });
    store.appendPart(sha256Hex(archive), archive);
    store.install(sha256Hex(archive), manifest, signer.kid);
  }

  beforeAll(async () => {
    mkdirSync(home.dir, { recursive: true });
    const weights = join(dir, 'tiny.safetensors');
    writeRandomTinyModel(weights, 3);
    home.writeConfig({
      version: 1,
      coordinatorUrl: 'https://coordinator.example.org',
      siteName: 'Offline site',
      model: { preset: 'casam-tiny', weights },
      backend: 'wasm',
      serve: { host: '127.0.0.1', port: 0, maxRequestBytes: 1 << 20 },
    });
    await SiteIdentity.generate(home.keyFile);
    signer = await testSigner();
    home.updateState((s) => {
      s.siteId = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
      s.coordinatorKeys = [{ kid: signer.kid, x: signer.x }];
    });
    store = new BundleStore(home.bundlesDir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ok when the weights are the federation base model, fail naming both when they are not', async () => {
    const first = byName(await runSitePreflight(home.dir, { network: false }));
    expect(first['model']).toMatchObject({ status: 'ok' });
    expect(first['network']!.status).toBe('skip');
    expect(first['dns']).toBeUndefined();
    const fingerprint = /fingerprint (sha256:[0-9a-f]{64})/.exec(first['model']!.detail)![1];
    expect(first['model']!.detail).toMatch(/no bundle installed yet/);

    await install(1, fingerprint);
    const same = byName(await runSitePreflight(home.dir, { network: false }));
    expect(same['model']).toMatchObject({ status: 'ok' });
    expect(same['model']!.detail).toContain(`fingerprint ${fingerprint} = the federation's (bundle 1)`);

    const other = `sha256:${'cd'.repeat(32)}`;
    await install(2, other);
    const mismatch = await runSitePreflight(home.dir, { network: false });
    const m = byName(mismatch)['model']!;
    expect(m.status).toBe('fail');
    expect(m.detail).toContain(fingerprint);
    expect(m.detail).toContain(`the federation's base model (bundle 2) is casam-tiny ${other}`);
    expect(m.fix).toMatch(/bring the federation's base model file/);

    // An installed bundle altered on disk is named, not trusted.
    const current = store.current()!;
    const file = join(home.bundlesDir, current.file);
    const bytes = readFileSync(file);
    bytes[bytes.length - 600] ^= 0xff;
    writeFileSync(file, bytes);
    const altered = byName(await runSitePreflight(home.dir, { network: false }));
    expect(altered['bundle']).toMatchObject({ status: 'fail' });
    expect(altered['bundle']!.fix).toMatch(/site-agent pull|rollback/);
  });
});
