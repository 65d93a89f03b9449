import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCli, initOfflineHome } from '../testing/agent-cli.testing';

describe('site-agent ingest on a folder in another layout (real CLI processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-ingest-'));
  const home = join(dir, 'home');
  beforeAll(async () => {
    await initOfflineHome(home, 'Ingest site', join(dir, 'none.safetensors'));
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the plain layout (and --nifti) when the folder has neither a manifest nor images/', async () => {
    // As nnU-Net lays a task out: imagesTr/ and labelsTr/ with NIfTI volumes.
    const nnunet = join(dir, 'Task03_Liver');
    for (const d of ['imagesTr', 'labelsTr']) mkdirSync(join(nnunet, d), { recursive: true });
    writeFileSync(join(nnunet, 'imagesTr', 'liver_0.nii.gz'), 'x');
    writeFileSync(join(nnunet, 'dataset.json'), '{}');
    const r = await agentCli(home, ['ingest', '--task', 'liver', '--folder', nnunet]);
    expect(r.code).toBe(3);
    const line = r.stderr.trim().split('\n').at(-1)!;
    expect(line).toMatch(/neither a manifest\.json nor an images\/ folder/);
    expect(line).toContain(`${nnunet}/images/<name>.png|.jpg and ${nnunet}/masks/<class>/<name>.png`);
    expect(line).toMatch(/--nifti <image\.nii\.gz>:<labels\.nii\.gz>/);
    // images/ without masks/<class>/: the same hint.
    mkdirSync(join(nnunet, 'images'));
    const r2 = await agentCli(home, ['ingest', '--task', 'liver', '--folder', nnunet]);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/no class folders under masks\/.*plain layout/);
  });
});
