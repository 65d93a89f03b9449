import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticSeries } from '../testing';
import { readDicomFolder } from './read-dicom-folder';
import { readDicomInstance } from './read-dicom-instance';
import { renderInstanceFrame } from './render-frame';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-render-frame-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const common = { patientId: 'P1', patientName: 'Doe^Jo', rows: 12, cols: 10 };

describe('renderInstanceFrame', () => {
  it('renders a single-frame CT as readDicomFolder does for that one file (tag window)', async () => {
    const s = await writeSyntheticSeries(join(dir, 'ct'), { ...common, modality: 'CT', slices: 2, seed: 3 });
    const file = s.slices[1].file;
    const instance = await readDicomInstance(new Uint8Array(await readFile(file)), file);
    const frame = renderInstanceFrame(instance, 0);
    const [folder] = (await readDicomFolder(file)).series;
    expect(frame.window).toMatchObject({ center: 40, width: 400 });
    expect([frame.width, frame.height]).toEqual([10, 12]);
    expect(Array.from(frame.gray8)).toEqual(Array.from(folder.slices[0].gray8));
  });

  it('renders every frame of a multi-frame MR as the folder reader does, with percentiles over all frames', async () => {
    const s = await writeSyntheticSeries(join(dir, 'mr'), {
      ...common,
      modality: 'MR',
      slices: 4,
      multiFrame: true,
      seed: 5,
    });
    const file = s.files[0];
    const instance = await readDicomInstance(new Uint8Array(await readFile(file)), file);
    const [folder] = (await readDicomFolder(file, { window: 'mr-auto' })).series;
    for (const slice of folder.slices) {
      const frame = renderInstanceFrame(instance, slice.frame - 1, 'mr-auto');
      expect(frame.window).toEqual(folder.window);
      expect(Array.from(frame.gray8)).toEqual(Array.from(slice.gray8));
    }
    expect(() => renderInstanceFrame(instance, 4)).toThrow(/frame 5 is outside the 4 frame/);
  });
});
