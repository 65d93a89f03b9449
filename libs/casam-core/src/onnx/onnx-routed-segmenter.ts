/**
 * The routed segmenter (casam/routed-segmenter.ts) on ONNX Runtime: the exported image encoder embeds, the fast
 * router (plain typed-array code, casam/fast-router.ts) picks the task or the fallback, the chosen task's
 * exported Alignment Layer transforms the embedding, and the exported prompt decoder answers the prompt.
 *
 * Every ORT session (encoder, decoder, one per task's Alignment Layer) is created once, when the segmenter is
 * built, and reused for every image. The site agent's default engine (apps/site-agent/src/model/engine-factory.ts).
 *
 * The graphs come from a folder written by `exportRoutedSegmenterOnnx` (= exportSamOnnx with the adapters'
 * Alignment Layers, named by task id). Each adapter's layer is looked up by task id and its weights' fingerprint,
 * so a folder exported for other adapters (or older weights of the same task) is refused, not silently used.
 *
 * Decoder deltas (LoRA, adapter version 2): the exported decoder is the frozen one, and there are no per-task
 * decoder graphs yet, so a task with a delta is never decoded here with the frozen decoder. Without
 * `decoderDeltaEngine` such adapters are refused when the segmenter is built; with it (a TF.js engine of the same
 * base model) those tasks' prompts are decoded there, after ORT's embedding and Alignment Layer, with the task's
 * delta, and a warning says so once. Other tasks and the fallback stay on ORT.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../image/image-io';
import { SamConfig } from '../sam/config';
import { createSamPredictor, type PredictPrompt, type Prediction, type SamPredictor } from '../sam/predictor';
import { StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { stateDictFingerprint } from '../weights/fingerprint';
import { createFastRouter, type FastRouter, type FastRouterOptions } from '../casam/fast-router';
import {
  type LoadedAdapter,
  type RoutedPrediction,
  type RoutedSegmenter,
  tasksWithDecoderDelta,
} from '../casam/routed-segmenter';
import { assertDecoderLoraFits } from '../casam/decoder-lora';
import type { SamEngine } from '../sam/engine';
import type { RouteResult } from '../casam/router';
import { ALIGN_INPUT_NAME, ALIGN_OUTPUT_NAME } from './export/align-graph';
import {
  configFingerprint,
  exportSamOnnx,
  readOnnxExportManifest,
  type OnnxExportManifest,
} from './export/export-model';
import { OnnxModelError, createOnnxSamEngine, type OnnxSamEngine } from './onnx-sam-engine';

export interface OnnxRoutedSegmenterOptions extends FastRouterOptions {
  config: SamConfig;
  /**
   * A folder written by `exportRoutedSegmenterOnnx` for these weights and adapters (its encoder and decoder are
   * opened, and closed again by dispose). Not needed when `engine` and `alignmentLayerFiles` are given.
   */
  exportDir?: string;
  /**
   * An open ONNX Runtime engine of the base model to use instead of opening the export folder's graphs. It is
   * borrowed: dispose() leaves it open (a server keeps one engine across bundle swaps).
   */
  engine?: OnnxSamEngine;
  /** The tasks: τ, τ statistics and VAE route; the Alignment Layer's weights identify its exported graph. */
  adapters: readonly LoadedAdapter[];
  /** When given, the export must have been made from SAM weights with this fingerprint. */
  modelFingerprint?: string;
  /** Intra-op threads of every session. Default: the cores this process may use (availableParallelism). */
  threads?: number;
  /**
   * Each task's Alignment Layer graph by task id (e.g. from `ensureOnnxAlignmentLayers`); when given, the export
   * folder's own layers are not looked at.
   */
  alignmentLayerFiles?: ReadonlyMap<string, string>;
  /**
   * A TF.js engine of the same base model (borrowed, never disposed here) that decodes the prompts of tasks whose
   * adapters carry a decoder delta, which ONNX Runtime cannot apply yet. Without it such adapters are refused.
   */
  decoderDeltaEngine?: SamEngine;
  /** Where the one-time warning about tasks decoded on TF.js goes (default: process.emitWarning). */
  onWarning?: (message: string) => void;
}

export interface OnnxRoutedSegmenter extends RoutedSegmenter {
  readonly engine: OnnxSamEngine;
}

/** Exports encoder, decoder and every adapter's Alignment Layer (named by task id) into `dir`. */
export function exportRoutedSegmenterOnnx(
  dir: string,
  cfg: SamConfig,
  sd: StateDict,
  adapters: readonly LoadedAdapter[],
  opts: { modelFingerprint?: string } = {},
): OnnxExportManifest {
  return exportSamOnnx(dir, cfg, sd, {
    ...opts,
    alignmentLayers: adapters.map((a) => ({
      name: a.taskId,
      channels: a.align.channels,
      stateDict: a.align.stateDict(),
    })),
  });
}

export async function createOnnxRoutedSegmenter(
  opts: OnnxRoutedSegmenterOptions,
): Promise<OnnxRoutedSegmenter> {
  const { config, exportDir, adapters } = opts;
  const threads = opts.threads ?? Math.max(1, availableParallelism());
  if (!(Number.isInteger(threads) && threads >= 1))
    throw new RangeError(`threads must be a positive integer, got ${threads}`);
  checkDecoderDeltas(opts);
  if (opts.engine && opts.alignmentLayerFiles)
    return assemble(opts, opts.engine, false, resolveGiven(adapters, opts.alignmentLayerFiles), threads);
  if (!exportDir)
    throw new OnnxModelError(
      'an ONNX routed segmenter needs an export folder, or an open engine with its Alignment Layer files',
    );
  const manifest = readOnnxExportManifest(exportDir);
  if (!manifest) throw new OnnxModelError(`${exportDir} holds no finished ONNX export (no manifest)`);
  if (manifest.configFingerprint !== configFingerprint(config))
    throw new OnnxModelError(
      `the ONNX export in ${exportDir} was made for preset "${manifest.preset}" with another configuration ` +
        `than "${config.name}"`,
    );
  if (opts.modelFingerprint !== undefined && manifest.modelFingerprint !== opts.modelFingerprint)
    throw new OnnxModelError(`the ONNX export in ${exportDir} was made from other SAM weights`);
  // Resolve every adapter's graph before opening anything, so a mismatch costs no session.
  const alignFiles = opts.alignmentLayerFiles
    ? resolveGiven(adapters, opts.alignmentLayerFiles)
    : adapters.map((a) => {
        const fp = stateDictFingerprint(a.align.stateDict());
        const hit = manifest.alignmentLayers.find((l) => l.name === a.taskId && l.fingerprint === fp);
        if (!hit)
          throw new OnnxModelError(
            `the ONNX export in ${exportDir} has no Alignment Layer for task ${a.taskId} with these weights ` +
              `(export again with exportRoutedSegmenterOnnx)`,
          );
        return { taskId: a.taskId, path: join(exportDir, hit.file) };
      });
  // A borrowed engine is used as given; otherwise the folder's encoder and decoder are opened (and owned).
  const engine =
    opts.engine ??
    (await createOnnxSamEngine({
      config,
      encoderPath: join(exportDir, manifest.encoder.file),
      decoderPath: join(exportDir, manifest.decoder.file),
      threads,
    }));
  return assemble(opts, engine, !opts.engine, alignFiles, threads);
}

/**
 * Refuses tasks with a decoder delta unless a TF.js engine of the same base model can decode them, and warns once
 * when one will.
 */
function checkDecoderDeltas(opts: OnnxRoutedSegmenterOptions): void {
  const withDelta = tasksWithDecoderDelta(opts.adapters);
  if (!withDelta.length) return;
  const names = withDelta.join(', ');
  const tf = opts.decoderDeltaEngine;
  if (!tf)
    throw new OnnxModelError(
      `task${withDelta.length > 1 ? 's' : ''} ${names} carry a decoder delta (LoRA), which the ONNX Runtime ` +
        `decoder cannot apply yet (there is no per-task decoder export): pass decoderDeltaEngine (a TF.js engine ` +
        `of the same base model) or use the TF.js engine`,
    );
  const c = opts.config;
  if (tf.kind !== 'tfjs' || tf.config.name !== c.name || tf.config.outChans !== c.outChans)
    throw new OnnxModelError(
      `decoderDeltaEngine must be a TF.js engine of ${c.name}, got a ${tf.kind} engine of ${tf.config.name}`,
    );
  assertDecoderLoraFits(c);
  (opts.onWarning ?? ((m: string) => process.emitWarning(m, 'CasamDecoderDeltaWarning')))(
    `task${withDelta.length > 1 ? 's' : ''} ${names}: decoder delta (LoRA) decoded on the TF.js engine; ` +
      `ONNX Runtime has no per-task decoder yet (slower decode for ${withDelta.length > 1 ? 'these tasks' : 'this task'})`,
  );
}

/** taskId → path as given; every adapter must have one. */
function resolveGiven(
  adapters: readonly LoadedAdapter[],
  files: ReadonlyMap<string, string>,
): { taskId: string; path: string }[] {
  return adapters.map((a) => {
    const path = files.get(a.taskId);
    if (!path) throw new OnnxModelError(`no ONNX Alignment Layer given for task ${a.taskId}`);
    return { taskId: a.taskId, path };
  });
}

/** Opens the Alignment Layer sessions and builds the segmenter around `engine` (closed by dispose when owned). */
async function assemble(
  opts: OnnxRoutedSegmenterOptions,
  engine: OnnxSamEngine,
  ownsEngine: boolean,
  alignFiles: readonly { taskId: string; path: string }[],
  threads: number,
): Promise<OnnxRoutedSegmenter> {
  const { adapters } = opts;
  const router: FastRouter = createFastRouter(
    adapters.map((a) => ({ taskId: a.taskId, vae: a.vae, tau: a.tau, tauStats: a.tauStats })),
    opts,
  );
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    executionMode: 'sequential',
    interOpNumThreads: 1,
    intraOpNumThreads: threads,
    graphOptimizationLevel: 'all',
  };
  const sessions = new Map<string, ort.InferenceSession>();
  try {
    for (const f of alignFiles) {
      const s = await ort.InferenceSession.create(f.path, sessionOptions).catch((e: Error) => {
        throw new OnnxModelError(
          `failed to load the Alignment Layer of task ${f.taskId} (${f.path}): ${e.message}`,
        );
      });
      sessions.set(f.taskId, s);
      if (!s.inputNames.includes(ALIGN_INPUT_NAME) || !s.outputNames.includes(ALIGN_OUTPUT_NAME))
        throw new OnnxModelError(
          `${f.path} is not an Alignment Layer export: inputs [${s.inputNames}], outputs [${s.outputNames}]`,
        );
    }
  } catch (e) {
    if (ownsEngine) engine.dispose();
    await Promise.allSettled([...sessions.values()].map((s) => s.release()));
    throw e;
  }
  const predictor: SamPredictor = createSamPredictor(engine);
  const deltaPredictor = opts.decoderDeltaEngine ? createSamPredictor(opts.decoderDeltaEngine) : undefined;
  const byId = new Map(adapters.map((a) => [a.taskId, a]));
  let disposed = false;

  return {
    engine,
    taskIds: router.taskIds,
    async segment(image: RgbImage, prompt: PredictPrompt): Promise<RoutedPrediction> {
      if (disposed) throw new Error('this routed segmenter has been disposed');
      const t0 = performance.now();
      const embedded = await predictor.setImage(image);
      const t1 = performance.now();
      const emb = embedded.embeddings;
      const route: RouteResult = router.route(emb);
      const t2 = performance.now();
      const delta = route.decision.kind === 'task' ? byId.get(route.decision.taskId)!.decoderLora : undefined;
      if (route.decision.kind === 'task') {
        const session = sessions.get(route.decision.taskId)!;
        const out = await session.run(
          { [ALIGN_INPUT_NAME]: new ort.Tensor('float32', toFloat32(emb), emb.shape) },
          [ALIGN_OUTPUT_NAME],
        );
        const y = out[ALIGN_OUTPUT_NAME] as ort.Tensor;
        // Copied: the decoder's input must not alias memory ORT owns.
        const data = new Float32Array(y.data as Float32Array);
        predictor.setEmbedding({ ...embedded, embeddings: float32Tensor([...emb.shape], data) });
      }
      const t3 = performance.now();
      // A task with a decoder delta decodes on TF.js (checked at build: deltaPredictor exists then).
      let pred: Prediction;
      if (delta) {
        deltaPredictor!.setEmbedding(predictor.current!);
        pred = await deltaPredictor!.predict(prompt, { decoderDelta: delta });
      } else pred = await predictor.predict(prompt);
      const t4 = performance.now();
      return {
        ...pred,
        route,
        timings: { embedMs: t1 - t0, routeMs: t2 - t1, alignMs: t3 - t2, decodeMs: t4 - t3 },
      };
    },
    /**
     * Releases every session it opened (not a borrowed engine) and frees the adapters (like the TF.js segmenter,
     * it owns them).
     */
    dispose() {
      if (disposed) return;
      disposed = true;
      predictor.reset();
      deltaPredictor?.reset();
      if (ownsEngine) engine.dispose();
      void Promise.allSettled([...sessions.values()].map((s) => s.release()));
      for (const a of adapters) {
        a.align.dispose();
        a.vae.dispose();
        a.decoderLora?.dispose();
      }
    },
  };
}
