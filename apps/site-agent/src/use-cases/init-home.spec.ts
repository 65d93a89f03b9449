import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../cli/errors';
import { initHome, type InitHomeInput, newAgentHome } from './init-home';

// Through the CLI (the default base model copied in): commands/init.command.spec.ts.
describe('newAgentHome and initHome', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-init-use-case-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const weights = join(dir, 'base.safetensors');
  writeFileSync(weights, 'weights');
  const input = (o: Partial<InitHomeInput> = {}): InitHomeInput => ({
    coordinatorUrl: 'https://coordinator.example.org//',
    siteName: 'Init site',
    preset: 'casam-tiny',
    weights,
    backend: 'wasm',
    serve: { host: '127.0.0.1', port: 8787 },
    pacs: ['https://pacs.hospital.example/dicom-web/'],
    log: () => undefined,
    ...o,
  });

  it('writes the configuration and a new key; a second run keeps the key and needs force', async () => {
    const homeDir = join(dir, 'home');
    const lines: string[] = [];
    const home = newAgentHome(homeDir, { force: false, preset: 'casam-tiny' });
    const r = await initHome(home, input({ log: (l) => lines.push(l) }));
    expect(r.keyGenerated).toBe(true);
    expect(r.config).toEqual({
      version: 1,
      coordinatorUrl: 'https://coordinator.example.org',
      siteName: 'Init site',
      model: { preset: 'casam-tiny', weights },
      backend: 'wasm',
      serve: { host: '127.0.0.1', port: 8787, maxRequestBytes: 32 * 1024 * 1024 },
      pacs: { allowed: ['https://pacs.hospital.example/dicom-web'] },
    });
    expect(home.readConfig()).toMatchObject(r.config);
    expect(statSync(home.keyFile).mode & 0o777).toBe(0o600);
    expect(lines.at(-1)).toBe(`wrote ${home.configFile}`);

    let refused: unknown;
    try {
      newAgentHome(homeDir, { force: false, preset: 'casam-tiny' });
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).exitCode).toBe(2);
    expect((refused as Error).message).toMatch(/already exists; use --force/);

    const again = await initHome(
      newAgentHome(homeDir, { force: true, preset: 'casam-tiny' }),
      input({ pacs: [] }),
    );
    expect(again.keyGenerated).toBe(false);
    expect(again.fingerprint).toBe(r.fingerprint);
    expect(again.config.pacs).toBeUndefined();
  });

  it('refuses an unknown preset before writing anything', () => {
    const homeDir = join(dir, 'unknown-preset');
    expect(() => newAgentHome(homeDir, { force: false, preset: 'vit_q' })).toThrow(UserError);
    expect(existsSync(homeDir)).toBe(false);
  });
});
