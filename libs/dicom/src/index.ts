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
export { segSourceFrame, segSourceFrames } from './seg-write/seg-source';
// DICOM in: Part 10 files → typed instances → ordered series → 8-bit slices with masks (SEG, RTSTRUCT).
export { readDicomFolder } from './read/read-dicom-folder';
export type { DicomFolder, DicomSeries, DicomSlice, ReadDicomFolderOptions } from './read/read-dicom-folder';
export { readDicomInstance, imageFromParsed } from './read/read-dicom-instance';
export { renderInstanceFrame } from './read/render-frame';
export { DEFAULT_DICOM_SIZE_LIMITS } from './read/size-limits';
export type { DicomSizeLimits } from './read/size-limits';
export type { RenderedFrame } from './read/render-frame';
export type {
  DicomFrameInfo,
  DicomIdentity,
  DicomInstance,
  DicomWindow,
  PhotometricInterpretation,
} from './read/dicom-instance';
export { DicomProblem } from './read/dicom-problem';
export type { DicomProblemCode, DicomProblemInfo } from './read/dicom-problem';
export { parsePart10, looksLikePart10 } from './read/parse-part10';
export type { ParsedDicom } from './read/parse-part10';
export { assembleSeries } from './read/assemble-series';
export type { AssembledSeries, SeriesSlice, SliceStack } from './read/assemble-series';
export type { FrameGeometry, Vec3 } from './read/geometry';
export { patientToPixel, pixelToPatient, sliceNormal } from './read/geometry';
export { WINDOW_PRESETS, isWindowPreset, percentileWindow, resolveWindow, toGray8 } from './read/voi-window';
export type { WindowChoice, WindowPreset } from './read/voi-window';
export { describeTransferSyntax, transferSyntaxLabel } from './read/transfer-syntax';
export { readSegMasks } from './masks/read-seg-masks';
export { readRtstructMasks } from './masks/read-rtstruct-masks';
export type { MaskFrame, MaskSet } from './masks/mask-set';
