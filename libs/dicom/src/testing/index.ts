// The DICOM test kit: real Part 10 files written by the tests themselves (series, SEG, RTSTRUCT).
export { writeSyntheticSeries, SYNTHETIC_CT_INTERCEPT } from './synthetic-series';
export type { SyntheticSeries, SyntheticSeriesOptions, SyntheticSlice } from './synthetic-series';
export { datasetToPart10 } from './write-part10';
export type { TestTransferSyntax } from './write-part10';
export { seededRandom, seededUid } from './seeded-random';
