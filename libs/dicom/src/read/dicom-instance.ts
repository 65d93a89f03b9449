// The typed view of one image instance (single- or multi-frame): what ordering, windowing and mask matching
// need, plus `identity`, the patient/study tags kept apart so the caller can hold them on site and copy them
// only into a DICOM-SEG that goes back to the same PACS — never into anything that leaves the hospital.
import type { FrameGeometry } from './geometry';
import type { Rescale } from './pixel-data';

/** A VOI window (PS3.3 C.11.2.1.2): centre and width in modality units. */
export interface DicomWindow {
  center: number;
  width: number;
  /** WindowCenterWidthExplanation (e.g. "ABDOMEN"), when the file gives one. */
  explanation?: string;
}

/** Patient and study identifiers: kept on site, only ever copied back into DICOM for the same PACS. */
export interface DicomIdentity {
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  studyId?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
  studyDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
}

/** Per-frame facts: where the frame is, how stored values become modality values, its window if any. */
export interface DicomFrameInfo {
  geometry?: FrameGeometry;
  rescale: Rescale;
  window?: DicomWindow;
}

export type PhotometricInterpretation = 'MONOCHROME1' | 'MONOCHROME2' | 'RGB';

export interface DicomInstance {
  source: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid?: string;
  modality: string;
  rows: number;
  columns: number;
  numberOfFrames: number;
  photometricInterpretation: PhotometricInterpretation;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  /** One entry per frame (index 0 = DICOM frame number 1). */
  frames: DicomFrameInfo[];
  identity: DicomIdentity;
  /** Modality values (after the Modality LUT) of frame `index` (0-based), decoded on demand. */
  readFrame(index: number): Float32Array;
}
