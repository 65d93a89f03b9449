export {};
export {
  ORTHANC_BIN,
  ORTHANC_DICOMWEB_PLUGIN,
  orthancAvailable,
  type OrthancOptions,
  type OrthancServer,
  startOrthanc,
} from './orthanc-server';
export { type TestInstanceOptions, writeTestInstance } from './test-instance';
// Synthetic series, SEG and RTSTRUCT written by the tests themselves (real Part 10 files, seeded).
export { writeSyntheticSeries, SYNTHETIC_CT_INTERCEPT } from './synthetic-series';
export type { SyntheticSeries, SyntheticSeriesOptions, SyntheticSlice } from './synthetic-series';
export { datasetToPart10 } from './write-part10';
export type { TestTransferSyntax } from './write-part10';
export { seededRandom, seededUid } from './seeded-random';
export { writeSegFor } from './synthetic-seg';
export type { SyntheticSegFile, SyntheticSegment, SyntheticSegOptions } from './synthetic-seg';
export { ellipseContours, writeRtstructFor } from './synthetic-rtstruct';
export type { SyntheticContour, SyntheticRtstructOptions } from './synthetic-rtstruct';
export type { SyntheticEllipse } from './synthetic-series';
export { writeSyntheticStudy } from './synthetic-study';
export type { SyntheticStudy, SyntheticStudyOptions } from './synthetic-study';
export { withRowsColumns } from './crafted-header';
