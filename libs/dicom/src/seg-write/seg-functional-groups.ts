// The multi-frame functional groups and dimensions of a SEG (PS3.3 A.51, C.7.6.16, C.7.6.17): what is the
// same for every frame (pixel measures, orientation) is shared; position, segment and the source it was
// derived from are per frame, and the dimension index says how to sort frames (segment, then position).
import type { NaturalDataset } from 'dcmjs';
import { SEGMENTATION_DERIVATION, SOURCE_IMAGE_PURPOSE } from './seg-codes';
import type { PlannedSegFrame, SegFramePlan } from './seg-frames';
import type { SegSourceFrame } from './seg-input';

/** (group << 16 | element) of the attributes the dimension index points at, written with VR AT. */
const TAG = {
  ReferencedSegmentNumber: 0x0062000b,
  SegmentIdentificationSequence: 0x0062000a,
  ImagePositionPatient: 0x00200032,
  PlanePositionSequence: 0x00209113,
  InStackPositionNumber: 0x00209057,
  FrameContentSequence: 0x00209111,
} as const;

/** The one stack used when sources have no patient geometry. */
const STACK_ID = '1';

/**
 * With patient geometry PS3.3 requires PixelSpacing and SliceThickness. A source that does not state its
 * thickness gets the spacing between its slices (what a contiguous series has), and a lone slice 1 mm, the
 * value viewers assume for a missing spacing; the SEG's masks are 2D either way.
 */
export function sharedFunctionalGroups(first: SegSourceFrame, plan: SegFramePlan): NaturalDataset[] {
  const group: NaturalDataset = {};
  if (plan.geometry === 'patient') {
    group.PixelMeasuresSequence = [
      {
        PixelSpacing: [...(first.pixelSpacing ?? [])],
        SliceThickness: first.sliceThickness ?? plan.sliceGap ?? 1,
      },
    ];
    group.PlaneOrientationSequence = [
      { ImageOrientationPatient: [...(first.imageOrientationPatient ?? [])] },
    ];
  } else if (first.pixelSpacing || first.sliceThickness !== undefined) {
    group.PixelMeasuresSequence = [
      {
        ...(first.pixelSpacing ? { PixelSpacing: [...first.pixelSpacing] } : {}),
        ...(first.sliceThickness !== undefined ? { SliceThickness: first.sliceThickness } : {}),
      },
    ];
  }
  return [group];
}

export function perFrameFunctionalGroups(
  sources: readonly SegSourceFrame[],
  plan: SegFramePlan,
): NaturalDataset[] {
  return plan.frames.map((frame) => frameGroup(sources[frame.sourceIndex], frame, plan));
}

function frameGroup(source: SegSourceFrame, frame: PlannedSegFrame, plan: SegFramePlan): NaturalDataset {
  const content: NaturalDataset = { DimensionIndexValues: [...frame.dimensionIndexValues] };
  if (plan.geometry === 'stack') {
    content.StackID = STACK_ID;
    content.InStackPositionNumber = frame.dimensionIndexValues[1];
  }
  const group: NaturalDataset = {
    FrameContentSequence: [content],
    DerivationImageSequence: [
      {
        DerivationCodeSequence: [{ ...SEGMENTATION_DERIVATION }],
        SourceImageSequence: [
          {
            ReferencedSOPClassUID: source.sopClassUid,
            ReferencedSOPInstanceUID: source.sopInstanceUid,
            ...(source.frameNumber !== undefined ? { ReferencedFrameNumber: source.frameNumber } : {}),
            PurposeOfReferenceCodeSequence: [{ ...SOURCE_IMAGE_PURPOSE }],
            SpatialLocationsPreserved: 'YES',
          },
        ],
      },
    ],
    SegmentIdentificationSequence: [{ ReferencedSegmentNumber: frame.segmentNumber }],
  };
  if (plan.geometry === 'patient' && source.imagePositionPatient) {
    group.PlanePositionSequence = [{ ImagePositionPatient: [...source.imagePositionPatient] }];
  }
  return group;
}

/** DimensionOrganizationSequence and DimensionIndexSequence: segment number first, then position. */
export function dimensionModule(organizationUid: string, plan: SegFramePlan): NaturalDataset {
  const position =
    plan.geometry === 'patient'
      ? {
          DimensionIndexPointer: TAG.ImagePositionPatient,
          FunctionalGroupPointer: TAG.PlanePositionSequence,
          DimensionDescriptionLabel: 'ImagePositionPatient',
        }
      : {
          DimensionIndexPointer: TAG.InStackPositionNumber,
          FunctionalGroupPointer: TAG.FrameContentSequence,
          DimensionDescriptionLabel: 'InStackPositionNumber',
        };
  return {
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: organizationUid }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: organizationUid,
        DimensionIndexPointer: TAG.ReferencedSegmentNumber,
        FunctionalGroupPointer: TAG.SegmentIdentificationSequence,
        DimensionDescriptionLabel: 'ReferencedSegmentNumber',
      },
      { DimensionOrganizationUID: organizationUid, ...position },
    ],
  };
}

/** Common Instance Reference: every source instance once, grouped by series, in first-seen order. */
export function referencedSeriesSequence(sources: readonly SegSourceFrame[]): NaturalDataset[] {
  const bySeries = new Map<string, Map<string, string>>();
  for (const source of sources) {
    const instances = bySeries.get(source.seriesInstanceUid) ?? new Map<string, string>();
    instances.set(source.sopInstanceUid, source.sopClassUid);
    bySeries.set(source.seriesInstanceUid, instances);
  }
  return [...bySeries].map(([seriesUid, instances]) => ({
    SeriesInstanceUID: seriesUid,
    ReferencedInstanceSequence: [...instances].map(([instanceUid, classUid]) => ({
      ReferencedSOPClassUID: classUid,
      ReferencedSOPInstanceUID: instanceUid,
    })),
  }));
}
