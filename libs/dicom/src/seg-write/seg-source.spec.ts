// The SEG writer against the library's own reader: a synthetic series written as real Part 10 files, read,
// assembled, segmented into a SEG by writeDicomSeg, and read back by readSegMasks (the ingest path) — the
// masks must land on the same slices, bit for bit, and the file must pass dciodvfy where it is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSegMasks } from '../masks/read-seg-masks';
import { type SliceStack, assembleSeries } from '../read/assemble-series';
import type { DicomInstance } from '../read/dicom-instance';
import { parsePart10 } from '../read/parse-part10';
import { imageFromParsed } from '../read/read-dicom-instance';
import { type SyntheticSeries, writeSyntheticSeries } from '../testing';
import { segSourceFrame, segSourceFrames } from './seg-source';
import { ALGORITHM } from './seg-input.testing';
import { writeDicomSeg } from './write-dicom-seg';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-seg-source-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const parse = async (file: string) => parsePart10(new Uint8Array(await readFile(file)), file);
async function load(series: SyntheticSeries): Promise<SliceStack> {
  const instances = await Promise.all(series.files.map(async (f) => imageFromParsed(await parse(f))));
  return assembleSeries(instances).series[0];
}

/** SEG of the series' ellipses (segment 1) and their left halves (segment 2), written and read back. */
async function roundTrip(series: SyntheticSeries, name: string) {
  const stack = await load(series);
  const sources = segSourceFrames(stack);
  const left = series.objectMasks.map((m) =>
    m.map((v, i) => (v && i % series.cols < series.cols / 2 ? 1 : 0)),
  );
  const bytes = writeDicomSeg({
    sources,
    segments: [
      { number: 1, label: 'object' },
      { number: 2, label: 'left' },
    ],
    masks: (segment, index) => (segment === 1 ? series.objectMasks : left)[index],
    algorithm: ALGORITHM,
  });
  const file = join(dir, `${name}.dcm`);
  await writeFile(file, bytes);
  return { set: readSegMasks(await parse(file), stack), left, file };
}

describe('segSourceFrame', () => {
  it('maps an instance frame: references, geometry, identity by DICOM keyword', () => {
    const instance = {
      source: 'x.dcm',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.4.1',
      sopInstanceUid: '1.2.3.4',
      seriesInstanceUid: '1.2.3',
      studyInstanceUid: '1.2',
      frameOfReferenceUid: '1.2.9',
      rows: 4,
      columns: 3,
      numberOfFrames: 2,
      frames: [
        { rescale: { slope: 1, intercept: 0 } },
        {
          rescale: { slope: 1, intercept: 0 },
          geometry: {
            position: [1, 2, 3],
            rowDirection: [1, 0, 0],
            columnDirection: [0, 1, 0],
            pixelSpacing: [0.5, 0.6],
          },
        },
      ],
      identity: { patientName: 'A^B', patientId: 'P9', accessionNumber: 'ACC', seriesNumber: 4 },
    } as unknown as DicomInstance;
    expect(segSourceFrame(instance, 1)).toEqual({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.4.1',
      sopInstanceUid: '1.2.3.4',
      frameNumber: 2,
      seriesInstanceUid: '1.2.3',
      studyInstanceUid: '1.2',
      frameOfReferenceUid: '1.2.9',
      rows: 4,
      columns: 3,
      imagePositionPatient: [1, 2, 3],
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      pixelSpacing: [0.5, 0.6],
      identity: {
        PatientName: 'A^B',
        PatientID: 'P9',
        PatientBirthDate: undefined,
        PatientSex: undefined,
        StudyDate: undefined,
        StudyTime: undefined,
        StudyID: undefined,
        AccessionNumber: 'ACC',
        ReferringPhysicianName: undefined,
      },
    });
    // Frame 1 has no geometry: none is invented.
    expect(segSourceFrame(instance, 0).imagePositionPatient).toBeUndefined();
    expect(() => segSourceFrame(instance, 2)).toThrow(/frame index 2 outside 2 frame/);
  });
});

describe('writeDicomSeg → readSegMasks (the ingest reader)', () => {
  it('puts every mask of a single-frame CT series back on its slice (12×11 frames)', async () => {
    const ct = await writeSyntheticSeries(join(dir, 'ct'), {
      modality: 'CT',
      slices: 4,
      rows: 12,
      cols: 11,
      patientId: 'P1',
      patientName: 'S^G',
      seed: 31,
    });
    const { set, left, file } = await roundTrip(ct, 'ct-seg');
    expect(set.problems).toEqual([]);
    expect(set.classNames).toEqual(['object', 'left']);
    expect(set.frames.map((f) => f.sopInstanceUid)).toEqual(ct.slices.map((s) => s.sopInstanceUid));
    set.frames.forEach((frame) => {
      expect(frame.masks.object).toEqual(ct.objectMasks[frame.sliceIndex]);
      expect(frame.masks.left).toEqual(left[frame.sliceIndex]);
    });
    expectValid(file);
  });

  it('references frames of an Enhanced MR multi-frame instance by frame number (9×10 frames)', async () => {
    const mr = await writeSyntheticSeries(join(dir, 'mr'), {
      modality: 'MR',
      slices: 4,
      rows: 9,
      cols: 10,
      multiFrame: true,
      patientId: 'P2',
      patientName: 'M^F',
      seed: 32,
    });
    const { set, file } = await roundTrip(mr, 'mr-seg');
    expect(set.problems).toEqual([]);
    expect(set.frames.map((f) => f.frameNumber)).toEqual(mr.slices.map((s) => s.frameNumber));
    expect(set.frames.map((f) => f.masks.object)).toEqual(mr.objectMasks);
    expectValid(file);
  });
});

/** dciodvfy finds no errors (skipped where dicom3tools is not installed; CI installs it). */
function expectValid(file: string): void {
  if (!existsSync('/usr/bin/dciodvfy')) return;
  const run = spawnSync('/usr/bin/dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${run.stdout}${run.stderr}`.split('\n');
  expect(lines.filter((line) => line.startsWith('Error'))).toEqual([]);
}
