import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticSeries } from './synthetic-series';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-kit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const options = { slices: 4, rows: 10, cols: 8, patientId: 'K1', patientName: 'Kit^Test', seed: 51 };

describe('writeSyntheticSeries', () => {
  it('is deterministic per seed, under random names that do not follow slice order', async () => {
    const a = await writeSyntheticSeries(join(dir, 'a'), { modality: 'CT', ...options });
    const b = await writeSyntheticSeries(join(dir, 'b'), { modality: 'CT', ...options });
    expect(a.files.map((f) => basename(f))).toEqual(b.files.map((f) => basename(f)));
    expect(await readFile(a.files[0])).toEqual(await readFile(b.files[0]));
    const names = a.slices.map((s) => basename(s.file));
    expect(names).not.toEqual([...names].sort());
    expect(a.files.some((f) => !f.endsWith('.dcm'))).toBe(true);
    // The object is there: every slice's ellipse covers part, not all, of the image.
    for (const mask of a.objectMasks) {
      const area = mask.reduce((n, v) => n + v, 0);
      expect(area).toBeGreaterThan(0);
      expect(area).toBeLessThan(mask.length);
    }
  });

  it.runIf(existsSync('/usr/bin/dciodvfy'))(
    'writes CT and MR files that dciodvfy accepts without errors',
    async () => {
      for (const modality of ['CT', 'MR'] as const) {
        const series = await writeSyntheticSeries(join(dir, `v-${modality}`), { modality, ...options });
        const report = execFileSync('sh', ['-c', `dciodvfy "${series.files[0]}" 2>&1 || true`], {
          encoding: 'utf8',
        });
        expect(report).toContain(modality === 'CT' ? 'CTImage' : 'MRImage');
        expect(report.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
      }
    },
  );

  it.runIf(existsSync('/usr/bin/dcmdump'))(
    'writes Enhanced multi-frame files dcmtk reads, frames shuffled',
    async () => {
      const series = await writeSyntheticSeries(join(dir, 'mf'), {
        modality: 'MR',
        multiFrame: true,
        ...options,
      });
      expect(series.files).toHaveLength(1);
      const dump = execFileSync('dcmdump', [series.files[0]], { encoding: 'utf8' });
      expect(dump).toContain('EnhancedMRImageStorage');
      expect(dump).toMatch(/\(0028,0008\) IS \[4\]/);
      expect(series.slices.map((s) => s.frameNumber)).not.toEqual([1, 2, 3, 4]);
    },
  );
});
