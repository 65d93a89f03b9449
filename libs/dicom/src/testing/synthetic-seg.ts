// A DICOM-SEG for a synthetic series, written the plain way (naturalized dataset → dcmjs), for reader specs
// and for loading into a test PACS. Independent of the product's SEG writer on purpose: a reader tested only
// against its sibling writer would share its mistakes. Options make the awkward variants readers must handle.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NaturalDataset } from 'dcmjs';
import { SEGMENTATION_STORAGE } from '../read/sop-classes';
import { seededHex, seededRandom, seededUid, seedFrom } from './seeded-random';
import type { SyntheticSeries } from './synthetic-series';
import { datasetToPart10 } from './write-part10';

export interface SyntheticSegment {
  label: string;
  /** One rows×cols 0/1 mask per slice of the series, in geometric order (series.slices order). */
  masks: Uint8Array[];
}

export interface SyntheticSegOptions {
  /** Output file; default: a random name in the series' folder. */
  file?: string;
  seed?: number;
  /** FRACTIONAL (8-bit, max 255) instead of BINARY (bit-packed). */
  fractional?: boolean;
  /** Omit DerivationImageSequence, leaving only PlanePositionSequence to match frames by. */
  withoutReferences?: boolean;
  /** Replace the source reference of every frame on these slice indices with an unknown SOP instance UID. */
  unknownReferenceSlices?: number[];
}

export interface SyntheticSegFile {
  file: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

const code = (value: string, scheme: string, meaning: string) => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

/** Writes a SEG with one frame per (segment, non-empty slice), segment-major, referencing the source frames. */
export async function writeSegFor(
  series: SyntheticSeries,
  segments: SyntheticSegment[],
  options: SyntheticSegOptions = {},
): Promise<SyntheticSegFile> {
  // Mixed with the series UID: a SEG must never reuse the UIDs its series was written with (same seed).
  const random = seededRandom(seedFrom(series.seriesInstanceUid, options.seed ?? 1));
  const file = options.file ?? join(series.dir, `${seededHex(random, 12)}.dcm`);
  const sopInstanceUid = seededUid(random);
  const seriesInstanceUid = seededUid(random);
  const frames = segments.flatMap((segment, s) =>
    segment.masks.flatMap((mask, k) =>
      mask.some((v) => v) ? [{ segmentNumber: s + 1, sliceIndex: k, mask }] : [],
    ),
  );
  const pixels = series.rows * series.cols;
  const dataset: NaturalDataset = {
    ...identityOf(series),
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    Modality: 'SEG',
    SeriesInstanceUID: seriesInstanceUid,
    SeriesNumber: 300,
    SeriesDescription: 'Synthetic segmentation',
    InstanceNumber: 1,
    ContentDate: '20260101',
    ContentTime: '120000',
    ContentLabel: 'SYNTHETIC',
    ContentDescription: 'Synthetic segmentation for tests',
    ContentCreatorName: 'Test^Kit',
    ImageType: ['DERIVED', 'PRIMARY'],
    Manufacturer: 'CASAM test kit',
    ManufacturerModelName: 'writeSegFor',
    DeviceSerialNumber: '1',
    SoftwareVersions: '1',
    FrameOfReferenceUID: series.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: series.rows,
    Columns: series.cols,
    NumberOfFrames: frames.length,
    BitsAllocated: options.fractional ? 8 : 1,
    BitsStored: options.fractional ? 8 : 1,
    HighBit: options.fractional ? 7 : 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: options.fractional ? 'FRACTIONAL' : 'BINARY',
    ...(options.fractional ? { SegmentationFractionalType: 'PROBABILITY', MaximumFractionalValue: 255 } : {}),
    SegmentSequence: segments.map((segment, s) => ({
      SegmentNumber: s + 1,
      SegmentLabel: segment.label,
      SegmentAlgorithmType: 'MANUAL',
      SegmentedPropertyCategoryCodeSequence: [code('91723000', 'SCT', 'Anatomical Structure')],
      SegmentedPropertyTypeCodeSequence: [code('85756007', 'SCT', 'Tissue')],
    })),
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: `${seriesInstanceUid}.1` }],
    DimensionIndexSequence: [
      // AT values as (group << 16) | element: ReferencedSegmentNumber in SegmentIdentificationSequence,
      // ImagePositionPatient in PlanePositionSequence.
      {
        DimensionOrganizationUID: `${seriesInstanceUid}.1`,
        DimensionIndexPointer: 0x0062000b,
        FunctionalGroupPointer: 0x0062000a,
      },
      {
        DimensionOrganizationUID: `${seriesInstanceUid}.1`,
        DimensionIndexPointer: 0x00200032,
        FunctionalGroupPointer: 0x00209113,
      },
    ],
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [{ PixelSpacing: series.pixelSpacing, SliceThickness: series.sliceSpacing }],
        PlaneOrientationSequence: [{ ImageOrientationPatient: series.orientation }],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map((frame) => perFrame(series, frame, options)),
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: series.seriesInstanceUid,
        ReferencedInstanceSequence: [...new Set(series.slices.map((s) => s.sopInstanceUid))].map((uid) => ({
          ReferencedSOPClassUID: series.sopClassUid,
          ReferencedSOPInstanceUID: uid,
        })),
      },
    ],
    PixelData: [
      packFrames(
        frames.map((f) => f.mask),
        pixels,
        !!options.fractional,
      ),
    ],
    _vrMap: { PixelData: 'OB' },
  };
  await writeFile(file, await datasetToPart10(dataset));
  return { file, sopInstanceUid, seriesInstanceUid };
}

function perFrame(
  series: SyntheticSeries,
  frame: { segmentNumber: number; sliceIndex: number },
  options: SyntheticSegOptions,
): NaturalDataset {
  const slice = series.slices[frame.sliceIndex];
  const unknown = options.unknownReferenceSlices?.includes(frame.sliceIndex);
  const source = {
    ReferencedSOPClassUID: series.sopClassUid,
    ReferencedSOPInstanceUID: unknown
      ? `${series.seriesInstanceUid}.999${frame.sliceIndex}`
      : slice.sopInstanceUid,
    ...(series.multiFrame ? { ReferencedFrameNumber: slice.frameNumber } : {}),
    PurposeOfReferenceCodeSequence: [code('121322', 'DCM', 'Source image for image processing operation')],
  };
  return {
    FrameContentSequence: [{ DimensionIndexValues: [frame.segmentNumber, frame.sliceIndex + 1] }],
    PlanePositionSequence: [{ ImagePositionPatient: slice.position }],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: frame.segmentNumber }],
    ...(options.withoutReferences
      ? {}
      : {
          DerivationImageSequence: [
            {
              SourceImageSequence: [source],
              DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')],
            },
          ],
        }),
  };
}

/** BINARY: bits LSB-first, frames back to back without padding; FRACTIONAL: 0 or 255 per pixel. Even length. */
function packFrames(masks: Uint8Array[], pixels: number, fractional: boolean): ArrayBuffer {
  const length = fractional ? masks.length * pixels : Math.ceil((masks.length * pixels) / 8);
  const out = new Uint8Array(length + (length % 2));
  masks.forEach((mask, f) => {
    for (let p = 0; p < pixels; p++) {
      if (!mask[p]) continue;
      const at = f * pixels + p;
      if (fractional) out[at] = 255;
      else out[at >> 3] |= 1 << (at & 7);
    }
  });
  return out.buffer;
}

/** Patient and study modules copied from the series (a SEG belongs to the same patient and study). */
export function identityOf(series: SyntheticSeries): NaturalDataset {
  return { ...series.identityTags, StudyInstanceUID: series.studyInstanceUid };
}
