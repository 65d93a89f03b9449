/**
 * ONNX Runtime session options of every graph the product runs (encoder, decoder, Alignment Layers, task
 * decoders), in one place.
 *
 * Each session owns an intra-op thread pool. By default ONNX Runtime lets those threads spin after a run, waiting
 * for the next one; a routed segmentation runs the encoder, an Alignment Layer and a decoder one after another,
 * each on its own session, so on a 2-core machine the threads of the session that just finished spin on the cores
 * the next session needs. `spinning: false` (the default here) turns that off (`session.intra_op.allow_spinning`).
 *
 * The prompt decoders of the small presets run on one intra-op thread ({@link smallGraphThreads}): without
 * spinning, every parallel operator of a second thread costs a wake-up, and their operators are too small to gain
 * from it. Side by side in one process on the shared 2-core machine (casam-tiny, interleaved run by run): decoder
 * 2.6 vs 3.5 ms p50 on 1 vs 2 threads (1.3–1.7 vs 1.6–2.0 ms in a later check). The Alignment Layer is the
 * exception: its six 3×3 convolutions over C channels are enough work for a second thread, measured right after
 * the encoder as a routed segmentation runs it: 1.04–1.21 vs 1.35–1.51 ms p50 on 2 vs 1 threads (four
 * interleaved runs of 300), and in `bench:site`'s 9-task rows 1.37 vs 1.61 ms (2026-12-07 afternoon; an earlier
 * check had 1.82 vs 1.64 the other way, before the exporter-5 graphs). The encoder keeps every core.
 */
import type * as ort from 'onnxruntime-node';
import { gridSize, type SamConfig } from '../sam/config';

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

/** Largest embedding grid² × channels² whose small graphs run on one thread (casam-tiny's and sam-mini's 16² × 64²). */
const SMALL_GRAPH_MAX_WORK = 16 * 16 * 64 * 64;

/**
 * Intra-op threads of a preset's prompt decoders (the frozen one, a task's own): 1 for the small presets (see the
 * header), `threads` for larger ones. Alignment Layers run on `threads` for every preset (the header).
 */
export function smallGraphThreads(cfg: SamConfig, threads: number | undefined): number | undefined {
  const g = gridSize(cfg);
  return g * g * cfg.promptEmbedDim * cfg.promptEmbedDim <= SMALL_GRAPH_MAX_WORK ? 1 : threads;
}
