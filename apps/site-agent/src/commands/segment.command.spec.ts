import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRgbPng } from '@casam/casam-core';
import { AgentHome } from '../home/agent-home';
import { baseModelFingerprint } from '../model/engine-factory';
import { agentCli, initOfflineHome, writeRandomTinyModel } from '../testing/agent-cli.testing';
import { installTestBundle, testSigner } from '../testing/signed-bundle.testing';
import type { SegmentDecisionJson } from '../use-cases/routing-decision';

/** A name as a hostile or careless coordinator could list it: clears the screen, then forges a second line. */
const HOSTILE = 'liver\u001b[2J\u001b[H\nrouted to task spleen\u202e';

describe('site-agent segment with an agent home (real CLI processes, random tiny base model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-segment-'));
  const home = new AgentHome(join(dir, 'home'));
  const image = join(dir, 'scan.png');
  const out = join(dir, 'mask.png');
  const segment = (...args: string[]) =>
    agentCli(home.dir, ['segment', '--image', image, '--out', out, ...args]);

  beforeAll(async () => {
    const weights = join(dir, 'tiny.safetensors');
    writeRandomTinyModel(weights);
    writeFileSync(
      image,
      encodeRgbPng({
        width: 160,
        height: 120,
        data: new Uint8Array(160 * 120 * 3).map((_, i) => (i * 7) % 251),
      }),
    );
    await initOfflineHome(home.dir, 'Segment site', weights);
    const base = baseModelFingerprint(home, home.readConfig());
    await installTestBundle(home, 1, await testSigner(), {
      base,
      tau: 1e9,
      task: { name: HOSTILE, modality: 'CT\u001b[31m', targetStructures: ['liver\n'] },
    });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a task name from the bundle with its control characters escaped, on one line', async () => {
    const r = await segment('--box', '20,20,100,90');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/[\u001b\u202e]/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toContain('routed to task liver\\x1b[2J\\x1b[H\\nrouted to task spleen\\u202e (');
    // --json stays exact JSON (the name parses back as it is) with nothing a terminal would act on.
    const j = await segment('--box', '20,20,100,90', '--json');
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout).not.toMatch(/[\u001b\u202e]/);
    expect((JSON.parse(j.stdout) as SegmentDecisionJson).taskName).toBe(HOSTILE);
  }, 60_000);

  it('takes the tight box of a 1-pixel-wide region (inclusive corners) and refuses one outside the image', async () => {
    const thin = await segment('--box', '106,89,106,104');
    expect(thin.code, thin.stderr).toBe(0);
    const outside = await segment('--box', '0,0,160,120');
    expect(outside.code).toBe(3);
    expect(outside.stderr).toMatch(
      /box 0,0,160,120 is outside the 160×120 image: corners are inclusive pixel indices, x in 0\.\.159, y in 0\.\.119/,
    );
  }, 60_000);

  it('falls back to frozen SAM with a warning when bundles/current.json is corrupt (no stack trace)', async () => {
    const pointer = join(home.bundlesDir, 'current.json');
    const good = readFileSync(pointer, 'utf8');
    writeFileSync(pointer, good.slice(0, good.length / 2));
    try {
      const r = await segment('--box', '20,20,100,90');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: .*current\.json is corrupt/);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(r.stdout).toMatch(/fallback to frozen SAM: no task in no bundle/);
      const status = await agentCli(home.dir, ['status', '--offline']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(
        /bundle\s+none installed — WARNING: .*current\.json is corrupt.*site-agent pull/,
      );
    } finally {
      writeFileSync(pointer, good);
    }
  }, 60_000);
});
