// The SEG as a naturalized dataset (keyword → value), module by module as PS3.3 A.51 lists them. Identity comes
// from the source and nowhere else: the SEG is filed with the patient and study it was made from.
import type { NaturalDataset } from 'dcmjs';
import {
  ARTIFICIAL_INTELLIGENCE,
  LO_MAX,
  TISSUE_CATEGORY,
  TISSUE_TYPE,
  algorithmName,
  algorithmVersion,
  contentLabel,
  fitLongString,
  softwareVersions,
} from './seg-codes';
import type { SegFramePlan } from './seg-frames';
import {
  dimensionModule,
  perFrameFunctionalGroups,
  referencedSeriesSequence,
  sharedFunctionalGroups,
} from './seg-functional-groups';
import { SEGMENTATION_STORAGE } from '../read/sop-classes';
import type { SegSegment, WriteDicomSegInput } from './seg-input';

// One SOP class table for the library: the reader's.
export { SEGMENTATION_STORAGE };

/** Patient and General Study attributes copied from the source; all type 2, so written empty when unknown. */
export const COPIED_IDENTITY_KEYWORDS = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyDate',
  'StudyTime',
  'StudyID',
  'AccessionNumber',
  'ReferringPhysicianName',
] as const;

/** Default series number: high, so that viewers list the derived series after the acquired ones. */
const DEFAULT_SERIES_NUMBER = 9901;

export interface SegUids {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  dimensionOrganizationUid: string;
}

export function segDataset(
  input: WriteDicomSegInput,
  plan: SegFramePlan,
  uids: SegUids,
  colorToLab: (rgb: readonly number[]) => number[],
): NaturalDataset {
  const first = input.sources[0];
  const now = input.now ?? new Date();
  const description = input.seriesDescription?.slice(0, LO_MAX) ?? algorithmName(input.algorithm);
  const identity = Object.fromEntries(
    COPIED_IDENTITY_KEYWORDS.map((key) => [key, first.identity[key] ?? '']),
  );
  return {
    // SOP Common: UTF-8, since names copied from the source may carry any script.
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: uids.sopInstanceUid,
    InstanceCreationDate: dicomDate(now),
    InstanceCreationTime: dicomTime(now),
    TimezoneOffsetFromUTC: '+0000',
    // Patient, General Study
    ...identity,
    StudyInstanceUID: first.studyInstanceUid,
    // General Series, Segmentation Series
    Modality: 'SEG',
    SeriesInstanceUID: uids.seriesInstanceUid,
    SeriesNumber: input.seriesNumber ?? DEFAULT_SERIES_NUMBER,
    SeriesDate: dicomDate(now),
    SeriesTime: dicomTime(now),
    SeriesDescription: description,
    // Frame of Reference only with patient geometry (it would then demand a plane position per frame); without
    // it General Image asks for PatientOrientation, unknown for a flat image, so present and empty (type 2C).
    ...(plan.geometry === 'patient'
      ? { FrameOfReferenceUID: first.frameOfReferenceUid, PositionReferenceIndicator: '' }
      : { PatientOrientation: '' }),
    // General and Enhanced General Equipment
    Manufacturer: 'CA-SAM Federation',
    ManufacturerModelName: 'CA-SAM site agent',
    // No hardware here: the base model and its weight fingerprint are what identifies the "device".
    DeviceSerialNumber: input.algorithm.baseModel.slice(0, LO_MAX),
    SoftwareVersions: softwareVersions(input.algorithm),
    // General Image, Segmentation Image
    InstanceNumber: input.instanceNumber ?? 1,
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: contentLabel(input.algorithm.task),
    ContentDescription: algorithmName(input.algorithm),
    ContentCreatorName: '',
    SegmentationType: 'BINARY',
    SegmentSequence: input.segments.map((segment) => segmentItem(segment, input, colorToLab)),
    LossyImageCompression: '00',
    // Image Pixel: 1 bit per pixel, bit-packed (see bit-pack.ts)
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: first.rows,
    Columns: first.columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    // Multi-frame Functional Groups, Multi-frame Dimension, Common Instance Reference
    NumberOfFrames: plan.frames.length,
    SharedFunctionalGroupsSequence: sharedFunctionalGroups(first, plan),
    PerFrameFunctionalGroupsSequence: perFrameFunctionalGroups(input.sources, plan),
    ...dimensionModule(uids.dimensionOrganizationUid, plan),
    ReferencedSeriesSequence: referencedSeriesSequence(input.sources),
  };
}

function segmentItem(
  segment: SegSegment,
  input: WriteDicomSegInput,
  colorToLab: (rgb: readonly number[]) => number[],
): NaturalDataset {
  const algorithm = segment.algorithm ?? input.algorithm;
  return {
    SegmentNumber: segment.number,
    SegmentLabel: segment.label.slice(0, LO_MAX),
    SegmentAlgorithmType: 'AUTOMATIC',
    SegmentAlgorithmName: algorithmName(algorithm),
    SegmentationAlgorithmIdentificationSequence: [
      {
        AlgorithmFamilyCodeSequence: [{ ...ARTIFICIAL_INTELLIGENCE }],
        AlgorithmName: fitLongString('CA-SAM', algorithm.task),
        AlgorithmVersion: algorithmVersion(algorithm).slice(0, LO_MAX),
      },
    ],
    SegmentedPropertyCategoryCodeSequence: [{ ...TISSUE_CATEGORY }],
    SegmentedPropertyTypeCodeSequence: [{ ...TISSUE_TYPE }],
    ...(segment.color ? { RecommendedDisplayCIELabValue: colorToLab(segment.color) } : {}),
  };
}

/** DA: YYYYMMDD, in UTC (TimezoneOffsetFromUTC says so). */
export function dicomDate(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** TM: HHMMSS, in UTC. */
export function dicomTime(date: Date): string {
  return date.toISOString().slice(11, 19).replace(/:/g, '');
}
