/**
 * CA-SAM inference at a site: embed the image once with the frozen encoder, route it (argmin VAE score, τ, or
 * fallback), pass the embedding through the chosen task's Alignment Layer (or leave it as it is), then answer
 * the prompt with the frozen decoder. Works on either engine (TF.js or ONNX Runtime) since the Alignment Layer
 * sits between `embed` and `decode`.
 */
import type { RgbImage } from '../image/image-io';
import { createSamPredictor, type PredictPrompt, type Prediction, type SamPredictor } from '../sam/predictor';
import type { SamEngine } from '../sam/engine';
import { tf } from '../sam/tf';
import { float32Tensor } from '../tensor/host-tensor';
import { readAdapterFile } from './adapter-file';
import { type AlignmentLayer, createAlignmentLayer } from './align-layer';
import { createRouter, type RouteResult, type Router, type RouterOptions } from './router';
import { createTaskVae, type TaskVae } from './task-vae';

/** One task's adapter, ready to run. */
export interface LoadedAdapter {
  taskId: string;
  tau: number;
  /** Mean and std of the held-out scores behind τ (for the normalised routing rules). */
  tauStats?: { mean: number; std: number };
  align: AlignmentLayer;
  vae: TaskVae;
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
  };
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
  const router: Router = createRouter(
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
      let t2: number;
      let t3: number;
      try {
        route = adapters.length
          ? router.route(x)
          : { decision: { kind: 'fallback', best: null }, scores: [] };
        t2 = performance.now();
        if (route.decision.kind === 'task') {
          const layer = byId.get(route.decision.taskId)!.align;
          const y = layer.forward(x);
          const data = Float32Array.from(y.dataSync() as Float32Array);
          y.dispose();
          predictor.setEmbedding({ ...embedded, embeddings: float32Tensor([...emb.shape], data) });
        }
        t3 = performance.now();
      } finally {
        x.dispose();
      }
      const pred = await predictor.predict(prompt);
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
      }
    },
  };
}
