/** Continual-learning protocol pieces: orders, matrix scores, routing over precomputed scores. */
export * from './continual-metrics';
export * from './task-orders';
export * from './routed-evaluation';
