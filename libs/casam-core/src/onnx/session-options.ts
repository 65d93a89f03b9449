/**
 * ONNX Runtime session options of every graph the product runs (encoder, decoder, Alignment Layers, task
 * decoders), in one place.
 *
 * Each session owns an intra-op thread pool. By default ONNX Runtime lets those threads spin after a run, waiting
 * for the next one; a routed segmentation runs the encoder, an Alignment Layer and a decoder one after another,
 * each on its own session, so on a 2-core machine the threads of the session that just finished spin on the cores
 * the next session needs. `spinning: false` (the default here) turns that off (`session.intra_op.allow_spinning`).
 */
import type * as ort from 'onnxruntime-node';

export interface OrtSessionTuning {
  /** Intra-op threads (default: ONNX Runtime's, the number of cores). */
  threads?: number;
  /** Let intra-op threads spin between runs (ONNX Runtime's default). Default here: false (see the header). */
  spinning?: boolean;
}

/** Session options for the CPU execution provider: sequential execution, all graph optimisations. */
export function ortSessionOptions(tuning: OrtSessionTuning = {}): ort.InferenceSession.SessionOptions {
  const { threads } = tuning;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1))
    throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const spinning = tuning.spinning ?? false;
  return {
    executionProviders: ['cpu'],
    executionMode: 'sequential',
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    ...(threads !== undefined ? { intraOpNumThreads: threads } : {}),
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}
