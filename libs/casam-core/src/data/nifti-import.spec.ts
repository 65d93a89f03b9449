import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadItem, readDatasetFolder } from './dataset-reader';
import { caseIdFromPath, importNiftiPairs } from './nifti-import';
import { writeNifti } from './nifti';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'casam-nii-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A 16×16×6 volume: a bright sphere (label 1) with a small core (label 2) in slices 2..4. */
function writeCase(dir: string, name: string, shift: number): { image: string; labels: string } {
  const n = 16;
  const nz = 6;
  const img: number[] = [];
  const lab: number[] = [];
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < n; j++)
      for (let i = 0; i < n; i++) {
        const r2 = (i - 8 - shift) ** 2 + (j - 8) ** 2 + ((k - 3) * 3) ** 2;
        img.push(r2 < 20 ? 800 : 100 + ((i * 7 + j * 3 + k) % 40));
        lab.push(r2 < 4 ? 2 : r2 < 20 ? 1 : 0);
      }
  const image = join(dir, `${name}.nii.gz`);
  const labels = join(dir, `${name}_seg.nii`);
  writeFileSync(image, writeNifti({ dims: [n, n, nz], datatype: 'int16', data: img, gzip: true }));
  writeFileSync(labels, writeNifti({ dims: [n, n, nz], datatype: 'uint8', data: lab, littleEndian: false }));
  return { image, labels };
}

describe('importNiftiPairs', () => {
  it('writes one item per slice with foreground, masks per label, one split per case, and resumes', async () => {
    const src = tmp();
    const out = join(tmp(), 'ds');
    const pairs = ['patient A', 'patientB', 'patientC'].map((p, i) => writeCase(src, p, i - 1));
    const progress: string[] = [];
    const r = await importNiftiPairs(pairs, out, {
      modality: 'CT',
      labelNames: { 1: 'organ', 2: 'core' },
      seed: 3,
      onProgress: (p) => progress.push(`${p.caseId}:${p.slices}:${p.skipped}`),
    });
    expect(r).toMatchObject({ imported: 3, resumed: 0, failed: 0 });
    expect(progress).toEqual(['patient_A:3:false', 'patientB:3:false', 'patientC:3:false']);
    const idx = await readDatasetFolder(out);
    expect(idx.problems).toEqual([]);
    expect(idx.classes).toEqual([
      { id: 1, name: 'organ' },
      { id: 2, name: 'core' },
    ]);
    expect(idx.items.map((it) => it.id).slice(0, 3)).toEqual([
      'patient_A_k002',
      'patient_A_k003',
      'patient_A_k004',
    ]);
    for (const c of ['patient_A', 'patientB', 'patientC'])
      expect(new Set(idx.items.filter((it) => it.id.startsWith(c)).map((it) => it.split)).size).toBe(1);
    const mid = await loadItem(idx.items[1]);
    expect([mid.image.width, mid.image.height]).toEqual([16, 16]);
    expect(mid.masks.map((m) => m.className)).toEqual(['organ', 'core']);
    // The sphere is the brightest thing: windowed to 255 where labelled.
    const p = mid.masks[0].data.indexOf(1);
    expect(mid.image.data[3 * p]).toBe(255);

    const again = await importNiftiPairs(pairs, out, {
      modality: 'CT',
      labelNames: { 1: 'organ', 2: 'core' },
      seed: 3,
    });
    expect(again).toMatchObject({ imported: 0, resumed: 3 });
    expect(again.manifest).toEqual(r.manifest);
  });

  it('reports an unreadable pair and imports the others', async () => {
    const src = tmp();
    const good = writeCase(src, 'good', 0);
    const bad = { image: join(src, 'bad.nii'), labels: good.labels };
    writeFileSync(bad.image, new Uint8Array(100));
    const problems: string[] = [];
    const r = await importNiftiPairs([bad, good], join(tmp(), 'o'), {
      onProblem: (p) => problems.push(p.message),
    });
    expect(r).toMatchObject({ imported: 1, failed: 1 });
    expect(problems[0]).toMatch(/bad.nii: .*shorter than the 348-byte/);
    await expect(importNiftiPairs([bad], join(tmp(), 'o2'))).rejects.toThrow(/no slice with foreground/);
  });

  it('derives case ids from file names', () => {
    expect(caseIdFromPath('/x/liver_001.nii.gz')).toBe('liver_001');
    expect(caseIdFromPath('prostate 03.NII')).toBe('prostate_03');
  });
});
