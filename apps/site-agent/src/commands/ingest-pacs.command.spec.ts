import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type OrthancServer,
  type SyntheticSeries,
  startOrthanc,
  writeSegFor,
  writeSyntheticSeries,
} from '@casam/dicom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEgressLog } from '../egress/egress-log';
import { agentCli, allowPacs, initOfflineHome } from '../testing/agent-cli.testing';

describe('site-agent ingest --pacs (real CLI processes, a real Orthanc with authentication)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-ingest-pacs-'));
  const home = join(dir, 'home');
  const credentials = { PACS_LOGIN: 'agent:pacs-pass-4711' };
  let orthanc: OrthancServer;
  let ct: SyntheticSeries;
  let seg: { sopInstanceUid: string; seriesInstanceUid: string };

  beforeAll(async () => {
    await initOfflineHome(home, 'PACS site', join(dir, 'none.safetensors'));
    ct = await writeSyntheticSeries(join(dir, 'export'), {
      modality: 'CT',
      slices: 6,
      rows: 24,
      cols: 32,
      patientId: 'PACS-PAT-0815',
      patientName: 'Roe^Richard',
      seed: 21,
    });
    seg = await writeSegFor(ct, [{ label: 'lesion', masks: ct.objectMasks }], { seed: 22 });
    orthanc = await startOrthanc({ dicomWeb: true, auth: { user: 'agent', password: 'pacs-pass-4711' } });
    allowPacs(home, orthanc.dicomWebUrl);
    for (const name of readdirSync(ct.dir)) await orthanc.upload(readFileSync(join(ct.dir, name)));
  }, 120_000);
  afterAll(async () => {
    await orthanc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ingest = (args: string[], env: NodeJS.ProcessEnv = credentials) =>
    agentCli(home, ['ingest', '--task', 'lesion', '--pacs', orthanc.dicomWebUrl, ...args], env);

  it('pulls a study (CT series and its SEG), ingests it, resumes without refetching, and logs no identity', async () => {
    const args = ['--study', ct.studyInstanceUid, '--pacs-auth-env', 'PACS_LOGIN', '--window', 'ct-abdomen'];
    const r = await ingest(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pulled 2 series from the PACS: 7 instance\(s\) fetched, 0 already here/);
    expect(r.stdout).toMatch(/task lesion: 6 usable item\(s\)/);

    const again = await ingest(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 instance\(s\) fetched, 7 already here/);

    const text = readFileSync(join(home, 'egress.log'), 'utf8');
    const records = parseEgressLog(text);
    expect(records.filter((x) => x.type === 'pacs_wado')).toHaveLength(7);
    expect(records.every((x) => x.type.startsWith('pacs_') && x.target.startsWith(orthanc.dicomWebUrl))).toBe(
      true,
    );
    const identifiers = [
      'PACS-PAT-0815',
      'Roe^Richard',
      'Roe',
      ct.studyInstanceUid,
      ct.seriesInstanceUid,
      seg.seriesInstanceUid,
      seg.sopInstanceUid,
      ...ct.slices.map((s) => s.sopInstanceUid),
      'pacs-pass-4711',
    ];
    for (const id of identifiers) expect(text, `the egress log contains ${id}`).not.toContain(id);
    for (const id of identifiers) expect(r.stdout + r.stderr, `the output contains ${id}`).not.toContain(id);
  });

  it('exits 2 on credentials the PACS refuses, 3 on a study it does not have, without echoing either', async () => {
    const wrong = await ingest(['--study', ct.studyInstanceUid, '--pacs-auth-env', 'PACS_LOGIN'], {
      PACS_LOGIN: 'agent:not-the-password',
    });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/401 Unauthorized: the PACS refused the credentials/);
    expect(wrong.stderr).not.toContain('not-the-password');

    const unknown = await ingest([
      '--study',
      '1.2.826.0.1.3680043.10.1145.404',
      '--pacs-auth-env',
      'PACS_LOGIN',
    ]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/404 Not Found: no such study/);
    expect(unknown.stderr).not.toContain('1.2.826.0.1.3680043.10.1145.404');
  });

  it('refuses a PACS that agent.json does not list, before connecting, and logs the refusal', async () => {
    const elsewhere = orthanc.dicomWebUrl.replace('/dicom-web', '/other-root');
    const r = await agentCli(home, [
      'ingest',
      '--task',
      'lesion',
      '--pacs',
      elsewhere,
      '--study',
      ct.studyInstanceUid,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /other-root is not a PACS this agent may use: agent\.json lists .*\/dicom-web under pacs\.allowed/,
    );
    const last = parseEgressLog(readFileSync(join(home, 'egress.log'), 'utf8')).at(-1)!;
    expect([last.type, last.bytes, last.outcome]).toEqual([
      'refused:pacs_qido',
      0,
      'refused: not a PACS in agent.json pacs.allowed',
    ]);
  });

  it('exits 5 on a PACS that never answers, within --pacs-timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/dicom-web`;
    allowPacs(home, url);
    try {
      const r = await agentCli(home, [
        'ingest',
        '--task',
        'lesion',
        '--pacs',
        url,
        '--study',
        '1.2.3',
        '--pacs-timeout',
        '0.5',
      ]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/no answer within 500 ms/);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });
});
