// Small synthetic sources and masks for the SEG writer's specs: plain objects, odd frame sizes (so frames start
// mid-byte), deterministic masks. Not exported from the library.
import type { SegSourceFrame, WriteDicomSegInput } from './seg-input';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const ENHANCED_MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4.1';
export const SECONDARY_CAPTURE_STORAGE = '1.2.840.10008.5.1.4.1.1.7';

export const IDENTITY = {
  PatientName: 'Müller^Jana',
  PatientID: 'PAT-0042',
  PatientBirthDate: '19700101',
  PatientSex: 'F',
  StudyDate: '20261201',
  StudyTime: '101500',
  StudyID: 'ST7',
  AccessionNumber: 'ACC-9',
  ReferringPhysicianName: 'House^Greg',
};

/** `count` axial CT slices of rows×columns, listed out of order (top slice first) to exercise sorting. */
export function ctSlices(count: number, rows = 5, columns = 7): SegSourceFrame[] {
  return Array.from({ length: count }, (_, i) => ({
    sopClassUid: CT_IMAGE_STORAGE,
    sopInstanceUid: `1.2.826.0.1.42.2.${i + 1}`,
    seriesInstanceUid: '1.2.826.0.1.42.2',
    studyInstanceUid: '1.2.826.0.1.42',
    frameOfReferenceUid: '1.2.826.0.1.42.9',
    rows,
    columns,
    imagePositionPatient: [-10.5, 20.25, 2.5 * (count - 1 - i)],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.8, 0.75],
    sliceThickness: 2.5,
    identity: { ...IDENTITY },
  }));
}

/** Frames 1…count of one enhanced MR instance. */
export function mrFrames(count: number, rows = 3, columns = 3): SegSourceFrame[] {
  return ctSlices(count, rows, columns).map((slice, i) => ({
    ...slice,
    sopClassUid: ENHANCED_MR_IMAGE_STORAGE,
    sopInstanceUid: '1.2.826.0.1.42.3.1',
    seriesInstanceUid: '1.2.826.0.1.42.3',
    frameNumber: i + 1,
  }));
}

/** One 2D image with no patient geometry (a photo, a screenshot). */
export function flatImage(rows = 9, columns = 11): SegSourceFrame {
  return {
    sopClassUid: SECONDARY_CAPTURE_STORAGE,
    sopInstanceUid: '1.2.826.0.1.42.4.1',
    seriesInstanceUid: '1.2.826.0.1.42.4',
    studyInstanceUid: '1.2.826.0.1.42',
    rows,
    columns,
    identity: { ...IDENTITY },
  };
}

/** A deterministic 0/1 pattern that differs per segment and source; `empty` pairs get all zeros. */
export function patternMask(pixels: number, segmentNumber: number, sourceIndex: number): Uint8Array {
  return Uint8Array.from({ length: pixels }, (_, p) =>
    (p * 7 + segmentNumber * 3 + sourceIndex) % 5 < 2 ? 1 : 0,
  );
}

export const ALGORITHM = {
  task: 'liver',
  adapterVersion: 3,
  bundleVersion: 12,
  baseModel: 'casam-small@1a2b3c4d',
  softwareVersion: '0.4.0',
};

/** Two segments on the given sources; masks listed in `empty` ("segment:source") are all zeros. */
export function segInput(sources: SegSourceFrame[], empty: string[] = []): WriteDicomSegInput {
  const pixels = sources[0].rows * sources[0].columns;
  return {
    sources,
    segments: [
      { number: 1, label: 'liver', color: [221, 130, 101] },
      { number: 2, label: 'tumour' },
    ],
    masks: (segment, source) =>
      empty.includes(`${segment}:${source}`) ? new Uint8Array(pixels) : patternMask(pixels, segment, source),
    algorithm: ALGORITHM,
    now: new Date('2026-12-06T17:30:05Z'),
  };
}
