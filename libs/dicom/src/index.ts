// @casam/dicom: hospital imaging in and out — DICOM series to 8-bit slices and masks (DICOM-SEG, RTSTRUCT),
// results to DICOM-SEG. Knows nothing of CA-SAM; the site agent is its only user. Patient and study identity
// stays in what this library returns to the agent; nothing here talks to the network.
export {};
// DICOM out: segmentation results as a BINARY DICOM-SEG referencing the source instances.
export { writeDicomSeg, EXPLICIT_VR_LITTLE_ENDIAN } from './seg-write/write-dicom-seg';
export { SegInputError } from './seg-write/seg-input';
export type {
  SegSourceFrame,
  SegSegment,
  SegAlgorithm,
  SegMaskSource,
  WriteDicomSegInput,
} from './seg-write/seg-input';
export { readDicomSegFrames } from './seg-write/seg-roundtrip';
export type { DicomSegRead, SegFrameRead } from './seg-write/seg-roundtrip';
export { SEGMENTATION_STORAGE } from './seg-write/seg-dataset';
export { newDicomUid } from './seg-write/dicom-uid';
