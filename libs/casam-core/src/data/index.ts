// Data the system learns from: the dataset folder format and NIfTI import.
export * from './dataset-format';
export * from './dataset-reader';
export * from './dataset-writer';
export * from './png-encode';
export * from './nifti';
export * from './nifti-import';
