import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedEnrollmentToken } from '@casam/protocol';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';

describe('site agent init → enroll → admin approval → status, against a real coordinator process', () => {
  let coord: CoordinatorProcess;
  const home = mkdtempSync(join(tmpdir(), 'casam-e2e-agent-'));
  beforeAll(async () => {
    coord = await startCoordinatorProcess();
  });
  afterAll(async () => {
    await coord?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('walks the enrollment the way hospital IT and the admin do', async () => {
    const init = await siteAgent(home, ['init', '--coordinator', coord.url, '--site-name', 'St Olav']);
    expect(init.code, init.stderr).toBe(0);
    const fingerprint = /site key fingerprint: (\S+)/.exec(init.stdout)![1];
    expect(statSync(join(home, 'keys', 'site-key.jwk')).mode & 0o777).toBe(0o600);

    const again = await siteAgent(home, ['init', '--coordinator', coord.url, '--site-name', 'St Olav']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; use --force/);

    const bad = await siteAgent(home, ['enroll', '--token', 'cset_' + 'x'.repeat(43)]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/enrollment_token_invalid/);

    const token = await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', {
      label: 'St Olav',
    });
    const enrolled = await siteAgent(home, ['enroll', '--token', token.token]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(`site key fingerprint: ${fingerprint}`);
    expect(enrolled.stdout).toMatch(/enrollment: pending/);
    const state = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as {
      siteId: string;
      coordinatorKeys: unknown[];
    };
    expect(state.coordinatorKeys.length).toBeGreaterThan(0);

    // The admin sees the fingerprint the hospital read out, and approves with it.
    const wrong = await fetch(`${coord.url}/api/v1/sites/${state.siteId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await coord.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ keyFingerprint: 'A'.repeat(43) }),
    });
    expect(wrong.status).toBe(409);
    await coord.admin('POST', `/api/v1/sites/${state.siteId}/approve`, { keyFingerprint: fingerprint });

    const approved = await siteAgent(home, ['enroll', '--wait', '5']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/enrollment: approved/);

    const status = await siteAgent(home, ['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as {
      enrollment: string;
      siteId: string;
      egress: Record<string, { messages: number }>;
    };
    expect(report).toMatchObject({ enrollment: 'approved', siteId: state.siteId });
    // Everything that left the site is in the egress log, by declared type only.
    expect(Object.keys(report.egress).sort()).toEqual(['enroll', 'read_jwks', 'site_token']);
    const log = readFileSync(join(home, 'egress.log'), 'utf8');
    expect(log).not.toMatch(/"d":/); // never the private key

    await coord.admin('POST', `/api/v1/sites/${state.siteId}/revoke`, { reason: 'test' });
    const revoked = await siteAgent(home, ['status', '--json']);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ enrollment: 'revoked' });
  });
});
