/**
 * CA-SAM inference at a site: embed the image once with the frozen encoder, route it (argmin VAE score, τ, or
 * fallback), pass the embedding through the chosen task's Alignment Layer (or leave it as it is), then answer
 * the prompt with the frozen decoder. Works on either engine (TF.js or ONNX Runtime) since the Alignment Layer
 * sits between `embed` and `decode`.
 *
 * A task may also carry a decoder delta (LoRA, adapter version 2): the router's choice selects the Alignment
 * Layer and the delta together, and the decoder runs with that task's delta for this call only; the fallback
 * decodes with no delta, i.e. exactly frozen SAM. Only the TF.js engine applies a delta: on ONNX Runtime such
 * adapters are refused here (the ONNX routed segmenter can hand those tasks to a TF.js engine instead).
 */
import type { RgbImage } from '../image/image-io';
import { createSamPredictor, type PredictPrompt, type Prediction, type SamPredictor } from '../sam/predictor';
import type { SamEngine } from '../sam/engine';
import { tf } from '../sam/tf';
import { float32Tensor } from '../tensor/host-tensor';
import { readAdapterFile } from './adapter-file';
import { type AlignmentLayer, createAlignmentLayer } from './align-layer';
import { type DecoderLora, assertDecoderLoraFits, createDecoderLora } from './decoder-lora';
import type { RouteResult, RouterOptions } from './router';
import { createFastRouter, type FastRouter } from './fast-router';
import { createTaskVae, type TaskVae } from './task-vae';

/** One task's adapter, ready to run. */
export interface LoadedAdapter {
  taskId: string;
  tau: number;
  /** Mean and std of the held-out scores behind τ (for the normalised routing rules). */
  tauStats?: { mean: number; std: number };
  align: AlignmentLayer;
  vae: TaskVae;
  /** The task's decoder delta (version 2 adapters), applied with `align` when the router picks the task. */
  decoderLora?: DecoderLora;
}

/** Builds a task's Alignment Layer and VAE from an adapter file (validated for `channels`). */
export function loadAdapter(bytes: Uint8Array, channels: number, taskId?: string): LoadedAdapter {
  const a = readAdapterFile(bytes, { channels });
  return {
    taskId: taskId ?? a.metadata.taskId,
    tau: a.metadata.tau.tau,
    tauStats: { mean: a.metadata.tau.mean, std: a.metadata.tau.std },
    align: createAlignmentLayer({ channels, stateDict: a.align, trainable: false }),
    vae: createTaskVae({ inputDim: channels, stateDict: a.vae, trainable: false }),
    ...(a.metadata.decoderLora && a.decoderLora
      ? {
          decoderLora: createDecoderLora({
            channels,
            ...a.metadata.decoderLora,
            stateDict: a.decoderLora,
            trainable: false,
          }),
        }
      : {}),
  };
}

/** Tasks whose adapters carry a decoder delta. */
export function tasksWithDecoderDelta(adapters: readonly LoadedAdapter[]): string[] {
  return adapters.filter((a) => a.decoderLora).map((a) => a.taskId);
}

export interface RoutedPrediction extends Prediction {
  route: RouteResult;
  /** Milliseconds spent in each step of this call. */
  timings: { embedMs: number; routeMs: number; alignMs: number; decodeMs: number };
}

export interface RoutedSegmenter {
  readonly taskIds: readonly string[];
  /** Embeds (or reuses the embedding of the last image when `sameImage`), routes and predicts. */
  segment(image: RgbImage, prompt: PredictPrompt): Promise<RoutedPrediction>;
  dispose(): void;
}

export function createRoutedSegmenter(
  engine: SamEngine,
  adapters: readonly LoadedAdapter[],
  opts: RouterOptions = {},
): RoutedSegmenter {
  const withDelta = tasksWithDecoderDelta(adapters);
  if (withDelta.length && engine.kind !== 'tfjs')
    throw new Error(
      `task${withDelta.length > 1 ? 's' : ''} ${withDelta.join(', ')} carry a decoder delta (LoRA), which the ` +
        `${engine.kind} engine cannot apply per call: use the TF.js engine, or the ONNX routed segmenter with the ` +
        `tasks' own decoder exports (ensureOnnxTaskDecoders)`,
    );
  if (withDelta.length) assertDecoderLoraFits(engine.config);
  // Routing on the fast router (typed arrays and a WebAssembly SIMD kernel, fast-router.ts): the same decisions
  // as the TF.js router (fast-router.spec.ts) at a fraction of its per-op dispatch cost; the VAEs' weights are
  // read out once here.
  const router: FastRouter = createFastRouter(
    adapters.map((a) => ({ taskId: a.taskId, vae: a.vae, tau: a.tau, tauStats: a.tauStats })),
    opts,
  );
  const byId = new Map(adapters.map((a) => [a.taskId, a]));
  const predictor: SamPredictor = createSamPredictor(engine);
  return {
    taskIds: router.taskIds,
    async segment(image, prompt) {
      const t0 = performance.now();
      const embedded = await predictor.setImage(image);
      const t1 = performance.now();
      const emb = embedded.embeddings;
      const x = tf.tensor4d(emb.data as Float32Array, emb.shape as [number, number, number, number]);
      let route: RouteResult;
      let delta: DecoderLora | undefined;
      let t2: number;
      let t3: number;
      try {
        route = adapters.length
          ? router.route(emb)
          : { decision: { kind: 'fallback', best: null }, scores: [] };
        t2 = performance.now();
        if (route.decision.kind === 'task') {
          const chosen = byId.get(route.decision.taskId)!;
          delta = chosen.decoderLora;
          const layer = chosen.align;
          const y = layer.forward(x);
          const data = Float32Array.from(y.dataSync() as Float32Array);
          y.dispose();
          predictor.setEmbedding({ ...embedded, embeddings: float32Tensor([...emb.shape], data) });
        }
        t3 = performance.now();
      } finally {
        x.dispose();
      }
      // The fallback never has a delta: exactly frozen SAM.
      const pred = await predictor.predict(prompt, delta ? { decoderDelta: delta } : undefined);
      const t4 = performance.now();
      return {
        ...pred,
        route,
        timings: { embedMs: t1 - t0, routeMs: t2 - t1, alignMs: t3 - t2, decodeMs: t4 - t3 },
      };
    },
    /** Frees the adapters; the engine is the caller's (several segmenters may share it) and stays usable. */
    dispose() {
      predictor.reset();
      for (const a of adapters) {
        a.align.dispose();
        a.vae.dispose();
        a.decoderLora?.dispose();
      }
    },
  };
}
