import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SyntheticSeries, writeSegFor, writeSyntheticSeries } from '@casam/dicom/testing';
import { PNG } from 'pngjs';
import { agentCli, initOfflineHome } from '../testing/agent-cli.testing';

/** Every file under `dir`, as text (binary files too: an identifier in any of them would show). */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'))
    .join('\n');
}

describe('site-agent ingest --dicom (real CLI processes, DICOM files written by the test kit)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-ingest-dicom-'));
  const home = join(dir, 'home');
  const data = join(dir, 'export');
  let ct: SyntheticSeries;
  beforeAll(async () => {
    await initOfflineHome(home, 'DICOM site', join(dir, 'none.safetensors'));
    ct = await writeSyntheticSeries(join(data, 'ct'), {
      modality: 'CT',
      slices: 12,
      rows: 40,
      cols: 48,
      patientId: 'PAT-4711-SECRET',
      patientName: 'Doe^Jane',
      seed: 3,
    });
    await writeSegFor(ct, [{ label: 'lesion', masks: ct.objectMasks }], { seed: 4 });
    // Not DICOM, and a DICOM file cut short: problems for those files, the rest ingested.
    writeFileSync(join(data, 'notes.txt'), 'not an image');
    writeFileSync(join(data, 'cut.dcm'), readFileSync(ct.files[0]).subarray(0, 300));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('slices a CT series with its DICOM-SEG into the task, in geometric order, with per-file problems', async () => {
    const r = await agentCli(home, ['ingest', '--task', 'lesion', '--dicom', data, '--window', 'ct-abdomen']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /task lesion: 12 usable item\(s\) — train \d+, val \d+, test \d+; 1 class\(es\) lesion/,
    );
    expect(r.stderr).toMatch(/problem \[[a-z-]+\] .*cut\.dcm/);
    expect(r.stderr).toMatch(/only 1 patient\(s\): each series is split in contiguous slice blocks/);
    const root = join(home, 'tasks', 'lesion', 'dicom-slices');
    const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as {
      items: { id: string; split: string; masks: { classId: number; path: string }[] }[];
    };
    // Contiguous blocks in slice order: all train items come before all val items, which come before test.
    const order = manifest.items.map((i) => i.split);
    expect(order.join(',')).toMatch(/^(train,)+(val,)+(test,?)+$/);
    // The k-th item's mask is the k-th slice's ellipse (the files were written under random names).
    const sources = JSON.parse(readFileSync(join(root, 'dicom-sources.json'), 'utf8')) as Record<
      string,
      { sopInstanceUid: string }
    >;
    manifest.items.forEach((item, k) => {
      expect(sources[item.id].sopInstanceUid).toBe(ct.slices[k].sopInstanceUid);
      expect(item.masks.map((m) => m.classId)).toEqual([1]);
      const png = PNG.sync.read(readFileSync(join(root, item.masks[0].path)));
      let diff = 0;
      for (let p = 0; p < ct.rows * ct.cols; p++)
        if ((png.data[p * 4] > 127 ? 1 : 0) !== ct.objectMasks[k][p]) diff++;
      expect(diff).toBe(0);
    });
    // Identity stays out of the dataset folder except the local DICOM reference map.
    const task = readFileSync(join(home, 'tasks', 'lesion', 'task.json'), 'utf8');
    for (const secret of ['PAT-4711-SECRET', 'Doe^Jane', ct.studyInstanceUid]) {
      expect(task).not.toContain(secret);
      expect(readFileSync(join(root, 'manifest.json'), 'utf8')).not.toContain(secret);
    }
    expect(allText(root)).not.toContain('PAT-4711-SECRET');

    // A second run resumes: nothing is re-sliced, the same items come back.
    const again = await agentCli(home, [
      'ingest',
      '--task',
      'lesion',
      '--dicom',
      data,
      '--window',
      'ct-abdomen',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/series 1\/1: 12 slices already imported/);
  });

  it('refuses a folder without masks, an unknown window and a missing folder with clear errors', async () => {
    const bare = join(dir, 'bare');
    await writeSyntheticSeries(bare, {
      modality: 'MR',
      slices: 3,
      rows: 16,
      cols: 16,
      patientId: 'P2',
      patientName: 'X^Y',
      seed: 5,
    });
    const none = await agentCli(home, ['ingest', '--task', 'mr', '--dicom', bare]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no series with masks: a DICOM-SEG or RTSTRUCT must reference the images/);
    const win = await agentCli(home, ['ingest', '--task', 'mr', '--dicom', bare, '--window', 'soft']);
    expect(win.code).toBe(2);
    expect(win.stderr).toMatch(/--window must be auto or one of ct-abdomen, .*got "soft"/);
    const missing = await agentCli(home, ['ingest', '--task', 'mr', '--dicom', join(dir, 'nowhere')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nowhere: no such folder/);
  });
});
