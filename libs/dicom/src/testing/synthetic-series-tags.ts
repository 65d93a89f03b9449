// The DICOM tags of a synthetic series beyond pixels: the modules a classic CT/MR image needs (patient,
// study, series, equipment, acquisition, image pixel) and the Enhanced multi-frame functional groups.
import type { NaturalDataset } from 'dcmjs';
import type { SyntheticSeries } from './synthetic-series';

/** Stored CT values are HU − (−1024): unsigned-looking air at 24, as many scanners write them. */
export const SYNTHETIC_CT_INTERCEPT = -1024;

export function baseDataset(series: SyntheticSeries): NaturalDataset {
  const ct = series.modality === 'CT';
  return {
    SOPClassUID: series.sopClassUid,
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    SpecificCharacterSet: 'ISO_IR 100',
    Modality: series.modality,
    Manufacturer: 'CASAM test kit',
    ManufacturerModelName: 'writeSyntheticSeries',
    DeviceSerialNumber: '1',
    SoftwareVersions: '1',
    PatientPosition: 'HFS',
    Laterality: '',
    AcquisitionNumber: 1,
    // Acquisition tags the CT and MR image modules require (dciodvfy-clean single-frame files).
    ...(ct
      ? { KVP: 120 }
      : {
          ScanningSequence: 'SE',
          SequenceVariant: 'NONE',
          ScanOptions: '',
          MRAcquisitionType: '2D',
          RepetitionTime: 500,
          EchoTime: 15,
          EchoTrainLength: 1,
          ImagingFrequency: 63.9,
          MagneticFieldStrength: 1.5,
        }),
    ...series.identityTags,
    StudyInstanceUID: series.studyInstanceUid,
    SeriesInstanceUID: series.seriesInstanceUid,
    SeriesNumber: ct ? 2 : 3,
    SeriesDescription: `Synthetic ${series.modality} ellipse`,
    FrameOfReferenceUID: series.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: series.rows,
    Columns: series.cols,
    BitsAllocated: 16,
    BitsStored: ct ? 16 : 12,
    HighBit: ct ? 15 : 11,
    PixelRepresentation: ct ? 1 : 0,
    _vrMap: { PixelData: 'OW' },
  };
}

/** Enhanced CT/MR functional groups: geometry, rescale and window shared; position per (shuffled) frame. */
export function multiFrameTags(series: SyntheticSeries, order: number[]): NaturalDataset {
  const ct = series.modality === 'CT';
  return {
    NumberOfFrames: order.length,
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: `${series.seriesInstanceUid}.1` }],
    // One dimension, InStackPositionNumber (0020,9057) in FrameContentSequence (0020,9111), as AT numbers.
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: `${series.seriesInstanceUid}.1`,
        DimensionIndexPointer: 0x00209057,
        FunctionalGroupPointer: 0x00209111,
      },
    ],
    ContentDate: '20260101',
    ContentTime: '120000',
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [{ PixelSpacing: series.pixelSpacing, SliceThickness: series.sliceSpacing }],
        PlaneOrientationSequence: [{ ImageOrientationPatient: series.orientation }],
        PixelValueTransformationSequence: [
          {
            RescaleIntercept: ct ? SYNTHETIC_CT_INTERCEPT : 0,
            RescaleSlope: 1,
            RescaleType: ct ? 'HU' : 'US',
          },
        ],
        FrameVOILUTSequence: [{ WindowCenter: series.window.center, WindowWidth: series.window.width }],
      },
    ],
    PerFrameFunctionalGroupsSequence: order.map((k) => ({
      FrameContentSequence: [{ StackID: '1', InStackPositionNumber: k + 1, DimensionIndexValues: [k + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: series.slices[k].position }],
    })),
  };
}
