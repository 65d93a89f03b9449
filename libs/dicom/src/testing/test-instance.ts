/**
 * One small, valid DICOM Part 10 instance for PACS tests: a few grey pixels and the identity a PACS indexes
 * (patient, study, series, instance). The synthetic series writer makes realistic CT/MR series; this makes the
 * cheapest file Orthanc accepts, so PACS specs can load many studies in milliseconds.
 *
 * dcmjs ships no TypeScript types; the few calls used here are typed by the local `Dcmjs` interface below
 * rather than by a global `declare module`, which other files of this library may declare differently.
 */

interface Dcmjs {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
  };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as Dcmjs;

/** Secondary Capture Image Storage: no modality-specific modules required. */
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

export interface TestInstanceOptions {
  patientId: string;
  /** DICOM person name, `Family^Given`. */
  patientName: string;
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  accessionNumber?: string;
  modality?: string;
  instanceNumber?: number;
  /** Square image side in pixels (8-bit); the pixels are a gradient seeded by the instance number. */
  size?: number;
}

/** The bytes of a DICOM Part 10 file (explicit VR little endian, 8-bit MONOCHROME2). */
export function writeTestInstance(o: TestInstanceOptions): Uint8Array {
  const size = o.size ?? 8;
  const n = o.instanceNumber ?? 1;
  const pixels = new Uint8Array(size * size).map((_, i) => (i * 7 + n * 13) % 256);
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SECONDARY_CAPTURE,
    MediaStorageSOPInstanceUID: o.sopUid,
    TransferSyntaxUID: EXPLICIT_LITTLE_ENDIAN,
    ImplementationClassUID: '1.2.826.0.1.3680043.10.1145.1',
  });
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: SECONDARY_CAPTURE,
    SOPInstanceUID: o.sopUid,
    PatientID: o.patientId,
    PatientName: o.patientName,
    StudyInstanceUID: o.studyUid,
    SeriesInstanceUID: o.seriesUid,
    AccessionNumber: o.accessionNumber ?? '',
    StudyDate: '20260101',
    StudyID: '1',
    SeriesNumber: '1',
    InstanceNumber: String(n),
    Modality: o.modality ?? 'OT',
    ConversionType: 'WSD',
    Rows: size,
    Columns: size,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OB' },
  });
  return new Uint8Array(dict.write());
}
