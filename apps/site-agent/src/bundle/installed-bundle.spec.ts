import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@casam/casam-core';
import { AgentHome } from '../home/agent-home';
import {
  installTestBundle,
  TEST_BASE_FINGERPRINT,
  type TestSigner,
  testSigner,
} from '../testing/signed-bundle.testing';
import { BundleStore } from './bundle-store';
import { loadActiveBundle } from './installed-bundle';

describe('loadActiveBundle with a damaged bundles/current.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-active-'));
  const home = new AgentHome(join(dir, 'home'));
  let signer: TestSigner;
  let store: BundleStore;
  const pointerFile = () => join(home.bundlesDir, 'current.json');
  const load = async () => {
    const lines: string[] = [];
    const b = await loadActiveBundle(store, home.readState(), TEST_BASE_FINGERPRINT, 64, (l) =>
      lines.push(l),
    );
    return { version: b?.installed.version ?? null, log: lines.join('\n') };
  };

  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
    signer = await testSigner();
    await installTestBundle(home, 1, signer, { base: TEST_BASE_FINGERPRINT, tau: 1e9 });
    await installTestBundle(home, 2, signer, { base: TEST_BASE_FINGERPRINT, tau: 1e9 });
    store = new BundleStore(home.bundlesDir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the current bundle when the pointer is intact', async () => {
    expect(await load()).toEqual({ version: 2, log: '' });
  });

  it('falls back to frozen SAM with a warning when current.json is not JSON (no exception)', async () => {
    const good = readFileSync(pointerFile(), 'utf8');
    writeFileSync(pointerFile(), good.slice(0, 40)); // a torn or truncated file
    const r = await load();
    expect(r.version).toBeNull();
    expect(r.log).toMatch(/warning: .*current\.json is corrupt \(.*\); no bundle can be used from it/);
    expect(r.log).toMatch(/site-agent pull/);
    expect(store.current()).toBeNull();
    expect(() => store.rollback()).toThrow(/no previous bundle to roll back to \(.*is corrupt/);
    writeFileSync(pointerFile(), good);
  });

  it('uses the previous bundle when only the current entry is damaged, and never reads a file it names', async () => {
    const p = JSON.parse(readFileSync(pointerFile(), 'utf8')) as {
      current: { file: string };
      previous: { version: number };
    };
    for (const broken of [
      { ...p, current: { ...p.current, file: '../../../../etc/passwd' } },
      { ...p, current: 'bundle-000002.tar' },
      { ...p, current: { ...p.current, version: 'two' } },
    ]) {
      writeFileSync(pointerFile(), JSON.stringify(broken));
      const r = await load();
      expect(r.version).toBe(1);
      expect(r.log).toMatch(/current\.json is damaged: its current entry is unusable/);
      expect(r.log).toMatch(/using the previous bundle 1/);
    }
  });

  it('lets pull recover: installing over a corrupt pointer writes a fresh one and deletes no archive', async () => {
    writeFileSync(pointerFile(), '{"current": {"version"');
    const archives = readdirSync(home.bundlesDir).filter((f) => f.endsWith('.tar'));
    const b3 = await installTestBundle(home, 3, signer, { base: TEST_BASE_FINGERPRINT, tau: 1e9 });
    expect(store.pointer()).toEqual({ current: b3, previous: null });
    for (const f of archives) expect(existsSync(join(home.bundlesDir, f))).toBe(true);
    expect((await load()).version).toBe(3);
  });
});
