import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import type { CreatedEnrollmentToken } from '@casam/protocol';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { type CliResult, siteAgent } from './support/site-agent-cli';
import { writeTinyBaseModel } from './support/site-setup';

const AGENT_BIN = resolve(__dirname, '../../apps/site-agent/bin/site-agent.js');

/** `site-agent <args>` with `stdin` piped in (the way a token manager or a script hands over a secret). */
function siteAgentWithStdin(home: string, args: string[], stdin: string): Promise<CliResult> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [AGENT_BIN, ...args], {
      env: { ...process.env, CASAM_AGENT_HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.once('error', rej);
    c.once('close', (code) => res({ code, stdout, stderr }));
    c.stdin.end(stdin);
  });
}

/**
 * Two fixes a hospital sees against a real coordinator process: the enrollment token can stay out of the
 * process list (a file or stdin instead of argv), and `status` shows a task the admin approved as approved.
 */
describe('site agent: enrollment token off the command line, task state in status (real coordinator)', () => {
  let coord: CoordinatorProcess;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-token-'));
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'polyps');
  const homeA = join(dir, 'site-a');
  const homeB = join(dir, 'site-b');
  const fingerprints: Record<string, string> = {};
  const newToken = async () =>
    (await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {})).token;
  const init = async (home: string, name: string) => {
    const r = await siteAgent(home, [
      'init',
      '--coordinator',
      coord.url,
      '--site-name',
      name,
      '--preset',
      'casam-tiny',
      '--weights',
      weights,
    ]);
    expect(r.code, r.stderr).toBe(0);
    fingerprints[home] = /fingerprint: (\S+)/.exec(r.stdout)![1];
  };

  beforeAll(async () => {
    writeTinyBaseModel(weights, 4);
    await writeDomainFolder(data, 'polyp-endoscopy', { count: 10, size: 64, seed: 5, preview: false });
    coord = await startCoordinatorProcess();
    await init(homeA, 'Token file site');
    await init(homeB, 'Token stdin site');
  });
  afterAll(async () => {
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with --token-file and with --token - (stdin); bad token sources get one clear line', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${await newToken()}\n`, { mode: 0o600 });
    const a = await siteAgent(homeA, ['enroll', '--token-file', tokenFile]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/enrollment: pending/);

    const token = await newToken();
    const refusals: [() => Promise<CliResult>, number, RegExp][] = [
      [
        () => siteAgent(homeB, ['enroll', '--token-file', join(dir, 'nope')]),
        3,
        /cannot read --token-file .*no such file/,
      ],
      [
        () => siteAgent(homeB, ['enroll', '--token', '-', '--token-file', tokenFile]),
        2,
        /give the token one way/,
      ],
      [() => siteAgentWithStdin(homeB, ['enroll', '--token', '-'], ''), 2, /no enrollment token in stdin/],
      [
        () => siteAgentWithStdin(homeB, ['enroll', '--token', '-'], 'hunter2\n'),
        2,
        /stdin does not hold an enrollment token/,
      ],
      [() => siteAgent(homeB, ['enroll']), 2, /missing the enrollment token: --token-file <file>, --token -/],
    ];
    for (const [run, code, msg] of refusals) {
      const r = await run();
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toContain('hunter2'); // a wrong secret is never echoed
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const b = await siteAgentWithStdin(homeB, ['enroll', '--token', '-'], `${token}\n`);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/enrollment: pending/);
    // Already enrolled: the token is not needed, so stdin is not read.
    const again = await siteAgentWithStdin(homeA, ['enroll', '--token', '-'], 'unused\n');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/already enrolled/);
  });

  it('status shows the task as the coordinator has it: proposed, then approved', async () => {
    const siteId = (
      JSON.parse((await siteAgent(homeA, ['status', '--json', '--offline'])).stdout) as { siteId: string }
    ).siteId;
    await coord.admin('POST', `/api/v1/sites/${siteId}/approve`, { keyFingerprint: fingerprints[homeA] });
    const ingest = await siteAgent(homeA, ['ingest', '--task', 'polyps', '--folder', data], {
      CASAM_BACKEND: 'wasm',
    });
    expect(ingest.code, ingest.stderr).toBe(0);
    const proposed = await siteAgent(homeA, ['propose', '--task', 'polyps']);
    expect(proposed.code, proposed.stderr).toBe(0);
    const taskId = /as ([0-9a-f-]{36})/.exec(proposed.stdout)![1];

    const before = await siteAgent(homeA, ['status']);
    expect(before.stdout).toMatch(/^tasks +polyps proposed$/m);

    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    const after = await siteAgent(homeA, ['status']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/^tasks +polyps approved$/m);
    const json = JSON.parse((await siteAgent(homeA, ['status', '--json'])).stdout) as {
      tasks: { name: string; coordinatorStatus: string; statusFresh: boolean }[];
    };
    expect(json.tasks).toEqual([
      expect.objectContaining({ name: 'polyps', coordinatorStatus: 'approved', statusFresh: true }),
    ]);
    // Offline it shows what the coordinator said last, and says so.
    const offline = await siteAgent(homeA, ['status', '--offline']);
    expect(offline.stdout).toMatch(/^tasks +polyps approved \(last known, \d{4}-\d\d-\d\dT[^)]+\)$/m);
  });
});
