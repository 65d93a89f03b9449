/** The CA-SAM trainer: embedding cache, prompt sampling, Alignment Layer training, the whole task pipeline. */
export * from './trainer-errors';
export * from './training-item';
export * from './regions';
export * from './embedding-cache';
export * from './prompt-sampler';
export * from './al-checkpoint';
export * from './al-trainer';
export * from './box-prompt-evaluator';
export * from './task-trainer';
export * from './ewc';
export * from './training-flops';
