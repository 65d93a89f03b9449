import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import { agentCli, writeRandomTinyModel } from '../testing/agent-cli.testing';
import { AgentHome, configProblems } from './agent-home';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('AgentHome: where the home is', () => {
  const saved = process.env['CASAM_AGENT_HOME'];
  afterAll(() => {
    if (saved === undefined) delete process.env['CASAM_AGENT_HOME'];
    else process.env['CASAM_AGENT_HOME'] = saved;
  });

  it('takes --home, then CASAM_AGENT_HOME, then ./.casam/site-agent; empty or blank values count as unset', () => {
    process.env['CASAM_AGENT_HOME'] = '/srv/agent';
    expect(new AgentHome('/x/home').dir).toBe('/x/home');
    expect(new AgentHome().dir).toBe('/srv/agent');
    expect(new AgentHome('').dir).toBe('/srv/agent');
    for (const blank of ['', '  ']) {
      process.env['CASAM_AGENT_HOME'] = blank;
      expect(new AgentHome().dir).toBe(resolve('.casam', 'site-agent'));
      expect(new AgentHome().dir).not.toBe(process.cwd());
    }
  });
});

describe('configProblems: serve limits', () => {
  const config = (serve: Record<string, unknown>) => ({
    version: 1,
    coordinatorUrl: 'https://coordinator.example.org',
    siteName: 'St Olav',
    model: { preset: 'casam-tiny', weights: 'w.safetensors' },
    backend: 'auto',
    serve: { host: '127.0.0.1', port: 8787, maxRequestBytes: 1 << 20, ...serve },
  });
  it('accepts an optional maxImagePixels up to the decoder limit and names a bad one', () => {
    expect(configProblems(config({}))).toEqual([]);
    expect(configProblems(config({ maxImagePixels: 2048 * 2048 }))).toEqual([]);
    for (const bad of [0, 1.5, 8192 * 8192 + 1, '4096'])
      expect(configProblems(config({ maxImagePixels: bad }))).toEqual([
        'serve.maxImagePixels must be an integer 1..67108864 (width × height)',
      ]);
  });
});

describe('the agent home on disk under umask 022 (real CLI processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-home-'));
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'polyps');
  const umask = 0o022;
  beforeAll(async () => {
    writeRandomTinyModel(weights);
    await writeDomainFolder(data, 'polyp-endoscopy', { count: 10, size: 64, seed: 3, preview: false });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const init = (home: string, env: NodeJS.ProcessEnv = {}, cwd?: string) =>
    agentCli(
      home,
      [
        'init',
        '--coordinator',
        'http://127.0.0.1:9',
        '--site-name',
        'Umask site',
        '--preset',
        'casam-tiny',
        '--weights',
        weights,
      ],
      env,
      { umask, cwd },
    );

  it('creates the home 0700 and the task index and record 0600; preflight passes the home check', async () => {
    const home = join(dir, 'var', 'lib', 'casam-agent');
    const r = await init(home);
    expect(r.code, r.stderr).toBe(0);
    expect(mode(home)).toBe(0o700);
    expect(mode(join(home, 'agent.json'))).toBe(0o600);
    const ingest = await agentCli(home, ['ingest', '--task', 'polyps', '--folder', data], {}, { umask });
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(mode(join(home, 'tasks', 'polyps', 'index.json'))).toBe(0o600);
    expect(mode(join(home, 'tasks', 'polyps', 'task.json'))).toBe(0o600);
    const pre = await agentCli(home, ['preflight', '--offline', '--json'], {}, { umask });
    const checks = (JSON.parse(pre.stdout) as { checks: { name: string; status: string; detail: string }[] })
      .checks;
    expect(checks.find((c) => c.name === 'home')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/mode 700/),
    });
  }, 120_000);

  it('preflight fails (exit 6) when the home is open to the group or everyone', async () => {
    const home = join(dir, 'open-home');
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755); // as `install -d` or an old agent left it
    expect((await init(home)).code).toBe(0);
    expect(mode(home)).toBe(0o755); // an existing home is not changed behind the operator's back
    for (const m of [0o755, 0o750]) {
      chmodSync(home, m);
      const pre = await agentCli(home, ['preflight', '--offline', '--json'], {}, { umask });
      expect(pre.code, pre.stdout).toBe(6);
      const home_ = (
        JSON.parse(pre.stdout) as { checks: { name: string; status: string; detail: string; fix: string }[] }
      ).checks.find((c) => c.name === 'home')!;
      expect(home_.status).toBe('fail');
      expect(home_.detail).toMatch(new RegExp(`mode ${m.toString(8)}\\); it must be 0700`));
      expect(home_.fix).toMatch(/chmod 0700/);
    }
  }, 120_000);

  it('CASAM_AGENT_HOME="" means the documented default, not the working directory', async () => {
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const r = await init('', { CASAM_AGENT_HOME: '' }, cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(cwd, 'agent.json'))).toBe(false);
    expect(existsSync(join(cwd, '.casam', 'site-agent', 'agent.json'))).toBe(true);
    expect(mode(join(cwd, '.casam', 'site-agent'))).toBe(0o700);
  });
});
