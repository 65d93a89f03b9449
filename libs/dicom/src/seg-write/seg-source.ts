// The bridge from what the reader returns (a DicomInstance, a SliceStack) to what the SEG writer references:
// one SegSourceFrame per frame, with the identity renamed to DICOM keywords so the writer copies it verbatim
// into the SEG that goes back to the same PACS.
import type { SliceStack } from '../read/assemble-series';
import type { DicomIdentity, DicomInstance } from '../read/dicom-instance';
import type { SegSourceFrame } from './seg-input';

/** DicomIdentity field → the DICOM keyword the SEG writer copies (patient and study modules only). */
const IDENTITY_KEYWORDS: [keyof DicomIdentity, string][] = [
  ['patientName', 'PatientName'],
  ['patientId', 'PatientID'],
  ['patientBirthDate', 'PatientBirthDate'],
  ['patientSex', 'PatientSex'],
  ['studyDate', 'StudyDate'],
  ['studyTime', 'StudyTime'],
  ['studyId', 'StudyID'],
  ['accessionNumber', 'AccessionNumber'],
  ['referringPhysicianName', 'ReferringPhysicianName'],
];

/** Frame `frameIndex` (0-based) of an instance as a SEG source; multi-frame instances get a frame number. */
export function segSourceFrame(instance: DicomInstance, frameIndex = 0): SegSourceFrame {
  if (!(frameIndex >= 0 && frameIndex < instance.numberOfFrames)) {
    throw new RangeError(
      `frame index ${frameIndex} outside ${instance.numberOfFrames} frame(s) of ${instance.source}`,
    );
  }
  const geometry = instance.frames[frameIndex]?.geometry;
  return {
    sopClassUid: instance.sopClassUid,
    sopInstanceUid: instance.sopInstanceUid,
    ...(instance.numberOfFrames > 1 ? { frameNumber: frameIndex + 1 } : {}),
    seriesInstanceUid: instance.seriesInstanceUid,
    studyInstanceUid: instance.studyInstanceUid,
    ...(instance.frameOfReferenceUid ? { frameOfReferenceUid: instance.frameOfReferenceUid } : {}),
    rows: instance.rows,
    columns: instance.columns,
    // Geometry only with a frame of reference: a position means nothing without one, and the writer refuses it.
    ...(geometry && instance.frameOfReferenceUid
      ? {
          imagePositionPatient: [...geometry.position],
          imageOrientationPatient: [...geometry.rowDirection, ...geometry.columnDirection],
          pixelSpacing: [...geometry.pixelSpacing],
        }
      : {}),
    identity: Object.fromEntries(
      IDENTITY_KEYWORDS.map(([field, keyword]) => [keyword, stringOrUndefined(instance.identity[field])]),
    ),
  };
}

/** Every slice of an assembled series, in its order (ascending along the slice normal). */
export function segSourceFrames(stack: SliceStack): SegSourceFrame[] {
  return stack.slices.map((slice) => segSourceFrame(slice.instance, slice.frameIndex));
}

function stringOrUndefined(value: string | number | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}
