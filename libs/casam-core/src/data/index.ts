// Data the system learns from: the dataset folder format, NIfTI import, synthetic domains.
export * from './dataset-format';
export * from './dataset-reader';
export * from './dataset-writer';
export * from './png-encode';
export * from './nifti';
export * from './nifti-import';
export * from './synthetic-domains';
export * from './contact-sheet';
export type { DomainDefinition, SceneOutput } from './scenes/scene';
