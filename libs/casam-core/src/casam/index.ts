/** CA-SAM model parts: Alignment Layer, attention pooling, TaskVAE, τ calibration, router, losses, metrics, adapter files. */
export * from './casam-shapes';
export * from './state-dict-check';
export * from '../random/seeded-random';
export * from './adam-optimizer';
export * from './align-layer';
export * from './attention-pool';
export * from './task-vae';
export * from './tau-stats';
export * from './tau-calibration';
export * from './router';
export * from './fast-router';
export * from './losses';
export * from './metrics';
export * from './adapter-file';
export * from './routed-segmenter';
