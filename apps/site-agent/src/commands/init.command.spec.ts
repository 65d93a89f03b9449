import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRESET } from '@casam/casam-core';
import { agentCli } from '../testing/agent-cli.testing';
import { DEFAULT_WEIGHTS, HOME_WEIGHTS } from '../use-cases/init-home';

describe('site-agent init with the default base model (real CLI processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-agent-init-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const init = (home: string, ...extra: string[]) =>
    agentCli(home, ['init', '--coordinator', 'http://127.0.0.1:9', '--site-name', 'Init', ...extra]);

  it('copies it into the home and points agent.json there, so the program folder may go away', async () => {
    const home = join(dir, 'home');
    const r = await init(home);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`copied the default base model to .*models/${DEFAULT_PRESET}\\.safetensors`),
    );
    expect(readFileSync(join(home, 'agent.json'), 'utf8')).toContain(`"preset": "${DEFAULT_PRESET}"`);
    const config = JSON.parse(readFileSync(join(home, 'agent.json'), 'utf8')) as {
      model: { weights: string };
    };
    // Relative: resolved against the home (was the absolute path of the program's own copy).
    expect(config.model.weights).toBe(HOME_WEIGHTS);
    expect(readFileSync(join(home, HOME_WEIGHTS)).equals(readFileSync(DEFAULT_WEIGHTS))).toBe(true);

    // Rewritten with --force: the home's model is the site's and is kept, even if a newer program ships another.
    writeFileSync(join(home, HOME_WEIGHTS), 'the site base model');
    const again = await init(home, '--force');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/kept the base model/);
    expect(readFileSync(join(home, HOME_WEIGHTS), 'utf8')).toBe('the site base model');
  }, 60_000);

  it('leaves --weights as given', async () => {
    const home = join(dir, 'given');
    const weights = join(dir, 'elsewhere.safetensors');
    writeFileSync(weights, 'x');
    const r = await init(home, '--weights', weights);
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(home, 'agent.json'), 'utf8')) as {
      model: { weights: string };
    };
    expect(config.model.weights).toBe(weights);
  }, 60_000);
});
