// An RTSTRUCT for a synthetic series: closed planar contours given in pixel coordinates of a slice, written in
// patient mm through that slice's geometry (the inverse of what the reader does), with ContourImageSequence
// references. `ellipseContours` turns the series' own ellipses into contours for a ready-made structure set.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NaturalDataset } from 'dcmjs';
import { type FrameGeometry, pixelToPatient } from '../read/geometry';
import { RT_STRUCTURE_SET_STORAGE } from '../read/sop-classes';
import { seededHex, seededRandom, seededUid, seedFrom } from './seeded-random';
import { identityOf } from './synthetic-seg';
import type { SyntheticSeries } from './synthetic-series';
import { datasetToPart10 } from './write-part10';

export interface SyntheticContour {
  roiName: string;
  /** Index into series.slices (geometric order). */
  sliceIndex: number;
  /** Polygon vertices as (column, row) pixel coordinates; closed implicitly. */
  points: [number, number][];
}

export interface SyntheticRtstructOptions {
  file?: string;
  seed?: number;
  /** Leave out ContourImageSequence, so the reader must find the slice by the contour's plane. */
  withoutReferences?: boolean;
}

/** Writes the structure set; ROIs are numbered 1.. in order of first appearance of each name. */
export async function writeRtstructFor(
  series: SyntheticSeries,
  contours: SyntheticContour[],
  options: SyntheticRtstructOptions = {},
): Promise<{ file: string; sopInstanceUid: string }> {
  const random = seededRandom(seedFrom(series.seriesInstanceUid, options.seed ?? 2));
  const file = options.file ?? join(series.dir, `${seededHex(random, 12)}`);
  const sopInstanceUid = seededUid(random);
  const names = [...new Set(contours.map((c) => c.roiName))];
  const imageRef = (k: number) => ({
    ReferencedSOPClassUID: series.sopClassUid,
    ReferencedSOPInstanceUID: series.slices[k].sopInstanceUid,
    ...(series.multiFrame ? { ReferencedFrameNumber: series.slices[k].frameNumber } : {}),
  });
  const dataset: NaturalDataset = {
    ...identityOf(series),
    SOPClassUID: RT_STRUCTURE_SET_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    Modality: 'RTSTRUCT',
    SeriesInstanceUID: seededUid(random),
    SeriesNumber: 400,
    InstanceNumber: 1,
    Manufacturer: 'CASAM test kit',
    OperatorsName: '',
    FrameOfReferenceUID: series.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    StructureSetLabel: 'SYNTHETIC',
    StructureSetDate: '20260101',
    StructureSetTime: '120000',
    ReferencedFrameOfReferenceSequence: [
      {
        FrameOfReferenceUID: series.frameOfReferenceUid,
        RTReferencedStudySequence: [
          {
            ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1',
            ReferencedSOPInstanceUID: series.studyInstanceUid,
            RTReferencedSeriesSequence: [
              {
                SeriesInstanceUID: series.seriesInstanceUid,
                ContourImageSequence: series.slices.map((_, k) => imageRef(k)),
              },
            ],
          },
        ],
      },
    ],
    StructureSetROISequence: names.map((name, i) => ({
      ROINumber: i + 1,
      ReferencedFrameOfReferenceUID: series.frameOfReferenceUid,
      ROIName: name,
      ROIGenerationAlgorithm: 'MANUAL',
    })),
    ROIContourSequence: names.map((name, i) => ({
      ReferencedROINumber: i + 1,
      ROIDisplayColor: [255, 0, 0],
      ContourSequence: contours
        .filter((c) => c.roiName === name)
        .map((c) => {
          const geometry = geometryOf(series, c.sliceIndex);
          const data = c.points.flatMap(([col, row]) => pixelToPatient(geometry, col, row).map(round));
          return {
            ...(options.withoutReferences ? {} : { ContourImageSequence: [imageRef(c.sliceIndex)] }),
            ContourGeometricType: 'CLOSED_PLANAR',
            NumberOfContourPoints: c.points.length,
            ContourData: data,
          };
        }),
    })),
    RTROIObservationsSequence: names.map((_, i) => ({
      ObservationNumber: i + 1,
      ReferencedROINumber: i + 1,
      RTROIInterpretedType: 'ORGAN',
      ROIInterpreter: '',
    })),
  };
  await writeFile(file, await datasetToPart10(dataset));
  return { file, sopInstanceUid };
}

/** The series' ellipse on every slice as a `vertices`-gon named `roiName`. */
export function ellipseContours(
  series: SyntheticSeries,
  roiName = 'object',
  vertices = 64,
): SyntheticContour[] {
  return series.ellipses.map((e, sliceIndex) => ({
    roiName,
    sliceIndex,
    points: Array.from({ length: vertices }, (_, v) => {
      const t = (2 * Math.PI * v) / vertices;
      return [e.cx + e.rx * Math.cos(t), e.cy + e.ry * Math.sin(t)] as [number, number];
    }),
  }));
}

function geometryOf(series: SyntheticSeries, k: number): FrameGeometry {
  const o = series.orientation;
  return {
    position: series.slices[k].position,
    rowDirection: [o[0], o[1], o[2]],
    columnDirection: [o[3], o[4], o[5]],
    pixelSpacing: series.pixelSpacing,
  };
}

/** DS values hold at most 16 characters: 4 decimals of a millimetre is far below a pixel. */
function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
