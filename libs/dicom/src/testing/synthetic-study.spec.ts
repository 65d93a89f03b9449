import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDicomFolder } from '../read/read-dicom-folder';
import { writeSyntheticStudy } from './synthetic-study';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-study-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('writeSyntheticStudy', () => {
  it('writes a CT and an MR series of one study with SEG masks that readDicomFolder attaches to every slice', async () => {
    const study = await writeSyntheticStudy(dir, {
      patientId: 'E2E-1',
      patientName: 'Test^Patient',
      seed: 61,
      slices: 4,
      rows: 16,
      cols: 16,
    });
    expect(study.files).toHaveLength(4 + 1 + 1 + 1);
    const folder = await readDicomFolder(dir);
    expect(folder.problems).toEqual([]);
    expect(folder.series.map((s) => s.modality).sort()).toEqual(['CT', 'MR']);
    for (const series of folder.series) {
      expect(series.studyInstanceUid).toBe(study.studyInstanceUid);
      expect(series.classNames).toEqual(['lesion']);
      const truth = series.modality === 'CT' ? study.ct : study.mr;
      series.slices.forEach((slice, k) => expect(slice.masks?.lesion).toEqual(truth.objectMasks[k]));
    }
  });
});
