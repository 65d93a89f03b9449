// Real DICOM Part 10 test series made by the tests themselves: a CT or MR stack with a bright ellipse per
// slice, written under random file names with shuffled InstanceNumbers (so a reader must order slices by
// geometry), as classic single-frame files or one Enhanced multi-frame file with shuffled frames.
// Classic CT/MR files pass dciodvfy; Enhanced files carry the functional groups readers use (geometry,
// rescale, window, dimensions) but not every acquisition macro of the Enhanced CT/MR IODs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NaturalDataset } from 'dcmjs';
import type { Vec3 } from '../read/geometry';
import {
  CT_IMAGE_STORAGE,
  ENHANCED_CT_IMAGE_STORAGE,
  ENHANCED_MR_IMAGE_STORAGE,
  MR_IMAGE_STORAGE,
} from '../read/sop-classes';
import { seededHex, seededPermutation, seededRandom, seededUid } from './seeded-random';
import { SYNTHETIC_CT_INTERCEPT, baseDataset, multiFrameTags } from './synthetic-series-tags';
import { type TestTransferSyntax, datasetToPart10 } from './write-part10';

export interface SyntheticSeriesOptions {
  modality: 'CT' | 'MR';
  slices: number;
  rows: number;
  cols: number;
  multiFrame?: boolean;
  transferSyntax?: TestTransferSyntax;
  patientId: string;
  patientName: string;
  studyInstanceUid?: string;
  seed: number;
}

/** One frame of the written series, in geometric order (ascending along the slice normal). */
export interface SyntheticSlice {
  file: string;
  sopInstanceUid: string;
  /** 1-based frame number within its instance (always 1 for single-frame files). */
  frameNumber: number;
  position: Vec3;
}

export interface SyntheticSeries {
  dir: string;
  files: string[];
  modality: 'CT' | 'MR';
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  rows: number;
  cols: number;
  /** [between rows, between columns] in mm (deliberately unequal, to catch swapped axes). */
  pixelSpacing: [number, number];
  orientation: [number, number, number, number, number, number];
  sliceSpacing: number;
  window: { center: number; width: number };
  slices: SyntheticSlice[];
  /** The ellipse per slice (1 inside, 0 outside), geometric order: the ground truth for mask specs. */
  objectMasks: Uint8Array[];
  /** Modality values written per slice (HU for CT), geometric order. */
  values: Float32Array[];
  /** True for one Enhanced multi-frame file (references then need ReferencedFrameNumber). */
  multiFrame: boolean;
  /** Patient and study tags as written (PatientName, PatientID, StudyDate…): what a SEG or RTSTRUCT copies. */
  identityTags: Record<string, string>;
  /** The ellipse per slice in pixel coordinates (centre column/row, radii), geometric order. */
  ellipses: SyntheticEllipse[];
}

export interface SyntheticEllipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

export { SYNTHETIC_CT_INTERCEPT };

/** Writes the series into `dir` (created if needed) and returns what a spec needs to check a reader. */
export async function writeSyntheticSeries(
  dir: string,
  options: SyntheticSeriesOptions,
): Promise<SyntheticSeries> {
  const random = seededRandom(options.seed);
  const { modality, rows, cols, slices: count } = options;
  const series: SyntheticSeries = {
    dir,
    files: [],
    modality,
    sopClassUid: sopClassFor(modality, !!options.multiFrame),
    studyInstanceUid: options.studyInstanceUid ?? seededUid(random),
    seriesInstanceUid: seededUid(random),
    frameOfReferenceUid: seededUid(random),
    rows,
    cols,
    pixelSpacing: [0.8, 0.7],
    orientation: [1, 0, 0, 0, 1, 0],
    sliceSpacing: 2.5,
    window: modality === 'CT' ? { center: 40, width: 400 } : { center: 1500, width: 3000 },
    slices: [],
    objectMasks: [],
    values: [],
    ellipses: [],
    multiFrame: !!options.multiFrame,
    identityTags: {
      PatientName: options.patientName,
      PatientID: options.patientId,
      PatientBirthDate: '19700101',
      PatientSex: 'O',
      StudyDate: '20260101',
      StudyTime: '120000',
      StudyID: `S${options.seed}`,
      AccessionNumber: `ACC${options.seed}`,
      ReferringPhysicianName: 'Referring^Doctor',
      StudyDescription: `Synthetic ${modality}`,
    },
  };
  await mkdir(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    // Rounded so the DS strings stay within 16 characters and read back exactly.
    const position = [-(cols * 0.7) / 2, -(rows * 0.8) / 2, -40 + k * series.sliceSpacing].map(
      (v) => Math.round(v * 1e4) / 1e4,
    ) as Vec3;
    const { mask, values, ellipse } = drawSlice(random, modality, rows, cols, k, count);
    series.ellipses.push(ellipse);
    series.objectMasks.push(mask);
    series.values.push(values);
    series.slices.push({ file: '', sopInstanceUid: '', frameNumber: 1, position });
  }
  const base = baseDataset(series);
  const order = seededPermutation(random, count);
  if (options.multiFrame) {
    const file = join(dir, `${seededHex(random, 16)}.dcm`);
    const sopInstanceUid = seededUid(random);
    const dataset: NaturalDataset = {
      ...base,
      ...multiFrameTags(series, order),
      SOPInstanceUID: sopInstanceUid,
      InstanceNumber: 1,
      PixelData: storedPixels(series, order),
    };
    await writeFile(file, await datasetToPart10(dataset, options.transferSyntax));
    order.forEach((k, i) => Object.assign(series.slices[k], { file, sopInstanceUid, frameNumber: i + 1 }));
    series.files.push(file);
  } else {
    for (const [i, k] of order.entries()) {
      // Some files without ".dcm", as PACS exports often are; the reader must not rely on extensions.
      const file = join(dir, `${seededHex(random, 12)}${i % 3 === 2 ? '' : '.dcm'}`);
      const sopInstanceUid = seededUid(random);
      const dataset: NaturalDataset = {
        ...base,
        SOPInstanceUID: sopInstanceUid,
        InstanceNumber: i + 1,
        ImagePositionPatient: series.slices[k].position,
        ImageOrientationPatient: series.orientation,
        PixelSpacing: series.pixelSpacing,
        SliceThickness: series.sliceSpacing,
        ...(modality === 'CT'
          ? { RescaleIntercept: SYNTHETIC_CT_INTERCEPT, RescaleSlope: 1, RescaleType: 'HU' }
          : {}),
        WindowCenter: series.window.center,
        WindowWidth: series.window.width,
        WindowCenterWidthExplanation: modality === 'CT' ? 'ABDOMEN' : 'FULL',
        PixelData: storedPixels(series, [k]),
      };
      await writeFile(file, await datasetToPart10(dataset, options.transferSyntax));
      Object.assign(series.slices[k], { file, sopInstanceUid, frameNumber: 1 });
      series.files.push(file);
    }
  }
  return series;
}

function sopClassFor(modality: 'CT' | 'MR', multiFrame: boolean): string {
  if (modality === 'CT') return multiFrame ? ENHANCED_CT_IMAGE_STORAGE : CT_IMAGE_STORAGE;
  return multiFrame ? ENHANCED_MR_IMAGE_STORAGE : MR_IMAGE_STORAGE;
}

/** An ellipse drifting across slices, with seeded noise: CT in HU (air −1000, soft tissue ~60), MR 12-bit. */
function drawSlice(
  random: () => number,
  modality: 'CT' | 'MR',
  rows: number,
  cols: number,
  k: number,
  n: number,
) {
  const t = n > 1 ? k / (n - 1) : 0.5;
  const cx = cols * (0.4 + 0.2 * t);
  const cy = rows * (0.45 + 0.1 * t);
  const rx = cols * (0.18 + 0.08 * Math.sin(Math.PI * t));
  const ry = rows * (0.14 + 0.06 * Math.sin(Math.PI * t));
  const mask = new Uint8Array(rows * cols);
  const values = new Float32Array(rows * cols);
  const [inside, outside, noise] = modality === 'CT' ? [60, -1000, 20] : [3000, 200, 100];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const i = y * cols + x;
      mask[i] = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1 ? 1 : 0;
      values[i] = Math.round((mask[i] ? inside : outside) + (random() - 0.5) * 2 * noise);
    }
  }
  return { mask, values, ellipse: { cx, cy, rx, ry } };
}

/** Stored values for the given slices, back to back: CT as signed 16-bit (HU − intercept), MR as 12-bit. */
function storedPixels(series: SyntheticSeries, slices: number[]): ArrayBuffer[] {
  const size = series.rows * series.cols;
  const out =
    series.modality === 'CT' ? new Int16Array(size * slices.length) : new Uint16Array(size * slices.length);
  const intercept = series.modality === 'CT' ? SYNTHETIC_CT_INTERCEPT : 0;
  slices.forEach((k, f) => series.values[k].forEach((v, i) => (out[f * size + i] = v - intercept)));
  return [out.buffer];
}
