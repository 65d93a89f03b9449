import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type SyntheticSeries, seededRandom, writeSyntheticSeries } from '../testing';
import { DicomProblem } from './dicom-problem';
import { imageFromParsed, readDicomInstance } from './read-dicom-instance';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-instance-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const bytesOf = async (file: string) => new Uint8Array(await readFile(file));

async function firstSlice(series: SyntheticSeries) {
  const slice = series.slices[0];
  return { slice, instance: await readDicomInstance(await bytesOf(slice.file), slice.file) };
}

describe('readDicomInstance', () => {
  it('reads a CT slice: UIDs, geometry, rescale to HU, window and identity kept apart', async () => {
    const series = await writeSyntheticSeries(join(dir, 'ct'), {
      modality: 'CT',
      slices: 3,
      rows: 12,
      cols: 10,
      patientId: 'PID-7',
      patientName: 'Doe^Jane',
      seed: 7,
    });
    const { slice, instance } = await firstSlice(series);
    expect(instance.sopInstanceUid).toBe(slice.sopInstanceUid);
    expect(instance.seriesInstanceUid).toBe(series.seriesInstanceUid);
    expect(instance.studyInstanceUid).toBe(series.studyInstanceUid);
    expect(instance.frameOfReferenceUid).toBe(series.frameOfReferenceUid);
    expect([instance.modality, instance.rows, instance.columns, instance.numberOfFrames]).toEqual([
      'CT',
      12,
      10,
      1,
    ]);
    expect(instance.signed).toBe(true);
    expect(instance.frames[0].geometry).toEqual({
      position: slice.position,
      rowDirection: [1, 0, 0],
      columnDirection: [0, 1, 0],
      pixelSpacing: [0.8, 0.7],
    });
    expect(instance.frames[0].rescale).toEqual({ slope: 1, intercept: -1024 });
    expect(instance.frames[0].window).toEqual({ center: 40, width: 400, explanation: 'ABDOMEN' });
    // HU values written are exactly what comes back after the Modality LUT (air −1000 ± noise, tissue 60 ± noise).
    expect(Array.from(instance.readFrame(0))).toEqual(Array.from(series.values[0]));
    expect(instance.identity).toMatchObject({
      patientId: 'PID-7',
      patientName: 'Doe^Jane',
      patientBirthDate: '19700101',
      accessionNumber: 'ACC7',
      studyDescription: 'Synthetic CT',
      seriesNumber: 2,
    });
    expect(JSON.stringify({ ...instance, identity: undefined })).not.toContain('PID-7');
  });

  it('reads 12-bit MR without rescale, in implicit VR', async () => {
    const series = await writeSyntheticSeries(join(dir, 'mr'), {
      modality: 'MR',
      slices: 2,
      rows: 8,
      cols: 9,
      transferSyntax: 'implicit-le',
      patientId: 'P2',
      patientName: 'Roe^R',
      seed: 3,
    });
    const { instance } = await firstSlice(series);
    expect(instance.transferSyntaxUid).toBe('1.2.840.10008.1.2');
    expect([instance.bitsStored, instance.signed, instance.frames[0].rescale.intercept]).toEqual([
      12,
      false,
      0,
    ]);
    expect(Array.from(instance.readFrame(0))).toEqual(Array.from(series.values[0]));
  });

  it('decodes RLE Lossless through the codecs, losslessly', async () => {
    const series = await writeSyntheticSeries(join(dir, 'rle'), {
      modality: 'CT',
      slices: 2,
      rows: 7,
      cols: 6,
      transferSyntax: 'rle',
      patientId: 'P3',
      patientName: 'X^Y',
      seed: 4,
    });
    const { instance } = await firstSlice(series);
    expect(instance.transferSyntaxUid).toBe('1.2.840.10008.1.2.5');
    expect(Array.from(instance.readFrame(0))).toEqual(Array.from(series.values[0]));
  });

  it('reads Enhanced multi-frame CT: shared geometry/rescale, per-frame positions', async () => {
    const series = await writeSyntheticSeries(join(dir, 'mf'), {
      modality: 'CT',
      slices: 4,
      rows: 6,
      cols: 5,
      multiFrame: true,
      patientId: 'P4',
      patientName: 'M^F',
      seed: 5,
    });
    const file = series.files[0];
    const instance = await readDicomInstance(await bytesOf(file), file);
    expect(instance.numberOfFrames).toBe(4);
    for (const slice of series.slices) {
      const f = slice.frameNumber - 1;
      expect(instance.frames[f].geometry?.position).toEqual(slice.position);
      expect(instance.frames[f].rescale.intercept).toBe(-1024);
      expect(Array.from(instance.readFrame(f))).toEqual(
        Array.from(series.values[series.slices.indexOf(slice)]),
      );
    }
  });

  it('answers garbage and truncation with a DicomProblem, never a TypeError', async () => {
    const series = await writeSyntheticSeries(join(dir, 'fuzz'), {
      modality: 'CT',
      slices: 1,
      rows: 16,
      cols: 16,
      patientId: 'P5',
      patientName: 'F^Z',
      seed: 9,
    });
    const good = await bytesOf(series.files[0]);
    const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array(200).fill(7), good.subarray(0, 140)];
    for (const cut of [200, 300, 400, good.length - 300, good.length - 1]) cases.push(good.subarray(0, cut));
    const flipped = good.slice();
    for (let i = 300; i < flipped.length; i += 37) flipped[i] ^= 0xff;
    cases.push(flipped);
    for (const bytes of cases) {
      const outcome = await readDicomInstance(bytes, 'bad.dcm').then(
        () => 'read',
        (error: unknown) => error,
      );
      if (outcome === 'read') continue; // a flipped byte may land in a harmless value
      expect(outcome).toBeInstanceOf(DicomProblem);
      expect((outcome as DicomProblem).message).toMatch(/^bad\.dcm: /);
    }
    // Seeded corruption: many single-byte changes and cuts; each outcome is an image or a DicomProblem.
    // (dcmjs reports what it skips on the console; that is noise here.)
    const quiet = ['log', 'warn', 'error'].map((m) =>
      vi.spyOn(console, m as 'log').mockImplementation(() => {}),
    );
    const random = seededRandom(99);
    for (let n = 0; n < 300; n++) {
      const bytes = good.slice(0, 132 + Math.floor(random() * (good.length - 132)));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        bytes[132 + Math.floor(random() * (bytes.length - 132))] = Math.floor(random() * 256);
      }
      const outcome = await readDicomInstance(bytes, 'fuzz.dcm').then(
        (instance) => instance.readFrame(0),
        (error: unknown) => error,
      );
      if (!(outcome instanceof Float32Array)) expect(outcome).toBeInstanceOf(DicomProblem);
    }
    quiet.forEach((spy) => spy.mockRestore());
    const empty = await readDicomInstance(new Uint8Array(0), 'empty.dcm').catch((e: DicomProblem) => e);
    expect((empty as DicomProblem).code).toBe('not-dicom');
    const truncated = await readDicomInstance(good.subarray(0, good.length - 100), 'cut.dcm').catch((e) => e);
    expect(truncated).toBeInstanceOf(DicomProblem);
  });
});

describe('imageFromParsed (datasets in memory)', () => {
  const base = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2.1',
    SOPInstanceUID: '2.25.10',
    StudyInstanceUID: '2.25.11',
    SeriesInstanceUID: '2.25.12',
    Modality: 'CT',
    Rows: 1,
    Columns: 2,
    BitsAllocated: 16,
    BitsStored: 16,
    PixelRepresentation: 0,
    PhotometricInterpretation: 'MONOCHROME1',
    NumberOfFrames: 2,
    PixelData: [Uint16Array.from([10, 20, 30, 40]).buffer],
  };
  const parsed = (dataset: Record<string, unknown>) => ({
    source: 'mem.dcm',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopClassUid: String(dataset.SOPClassUID),
    dataset,
  });
  const problem = (dataset: Record<string, unknown>) => {
    try {
      imageFromParsed(parsed(dataset));
    } catch (error) {
      return error as DicomProblem;
    }
    throw new Error('expected a DicomProblem');
  };

  it('applies per-frame rescale (PixelValueTransformationSequence) and per-frame windows', () => {
    const instance = imageFromParsed(
      parsed({
        ...base,
        SharedFunctionalGroupsSequence: [
          { PixelValueTransformationSequence: [{ RescaleSlope: 1, RescaleIntercept: -5 }] },
        ],
        PerFrameFunctionalGroupsSequence: [
          {
            FrameVOILUTSequence: [
              { WindowCenter: [50, 60], WindowWidth: [100, 200], WindowCenterWidthExplanation: ['A', 'B'] },
            ],
          },
          { PixelValueTransformationSequence: [{ RescaleSlope: 2, RescaleIntercept: 1 }] },
        ],
      }),
    );
    expect(instance.photometricInterpretation).toBe('MONOCHROME1');
    expect(Array.from(instance.readFrame(0))).toEqual([5, 15]);
    expect(Array.from(instance.readFrame(1))).toEqual([61, 81]);
    expect(instance.frames[0].window).toEqual({ center: 50, width: 100, explanation: 'A' });
    expect(instance.frames[1].window).toBeUndefined();
  });

  it('gives each unusable dataset its own code and reason', () => {
    expect(problem({ ...base, SOPClassUID: '1.2.840.10008.5.1.4.1.1.66.4' }).code).toBe(
      'unsupported-sop-class',
    );
    expect(problem({ ...base, PixelData: undefined }).code).toBe('no-pixel-data');
    expect(problem({ ...base, NumberOfFrames: 3 }).message).toMatch(
      /truncated: 3 frame\(s\) of 1×2 need 12 bytes, the file has 8/,
    );
    expect(problem({ ...base, PhotometricInterpretation: 'PALETTE COLOR' }).message).toMatch(
      /PALETTE COLOR is not supported/,
    );
    expect(problem({ ...base, BitsAllocated: 12 }).message).toMatch(/Bits Allocated 12/);
    expect(problem({ ...base, SeriesInstanceUID: undefined }).message).toBe(
      'mem.dcm: required tag SeriesInstanceUID is missing',
    );
    expect(problem({ ...base, Rows: 'x' }).code).toBe('no-pixel-data');
  });
});
