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
 * Decoder deltas (LoRA, adapter version 2): a task with a delta decodes with its own decoder graph, the base
 * decoder with the delta merged into its weights (`ensureOnnxTaskDecoders`, given as `taskDecoderFiles`), opened
 * once beside the task's Alignment Layer; so such a task never leaves ONNX Runtime. A task with a delta but no
 * decoder graph is refused when the segmenter is built (never decoded with the frozen decoder); the caller keeps
 * TF.js for the bundle then. The fallback stays exactly the frozen decoder.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../image/image-io';
import { SamConfig } from '../sam/config';
import { createSamPredictor, type PredictPrompt, type SamPredictor } from '../sam/predictor';
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
import type { RouteResult } from '../casam/router';
import { ALIGN_INPUT_NAME, ALIGN_OUTPUT_NAME } from './export/align-graph';
import { ortSessionOptions, smallGraphThreads } from './session-options';
import {
  configFingerprint,
  exportSamOnnx,
  readOnnxExportManifest,
  type OnnxExportManifest,
} from './export/export-model';
import {
  OnnxModelError,
  createOnnxSamEngine,
  createOnnxTaskDecoderEngine,
  type OnnxSamEngine,
} from './onnx-sam-engine';

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
  /** Let the sessions' threads spin between runs (ONNX Runtime's default; off here, see session-options.ts). */
  spinning?: boolean;
  /**
   * Intra-op threads of the task decoders it opens. Default: 1 for the small presets, else `threads`
   * (smallGraphThreads in session-options.ts).
   */
  smallGraphThreads?: number;
  /**
   * Intra-op threads of the Alignment Layers. Default: `threads` for every preset (its six 3×3 convolutions are
   * the one small graph whose work outweighs waking a second thread; see session-options.ts).
   */
  alignThreads?: number;
  /**
   * Each task's Alignment Layer graph by task id (e.g. from `ensureOnnxAlignmentLayers`); when given, the export
   * folder's own layers are not looked at.
   */
  alignmentLayerFiles?: ReadonlyMap<string, string>;
  /**
   * Each task's own decoder graph by task id, for tasks whose adapters carry a decoder delta (from
   * `ensureOnnxTaskDecoders`: the delta merged into the decoder's weights). Every such task needs one.
   */
  taskDecoderFiles?: ReadonlyMap<string, string>;
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
      spinning: opts.spinning,
    }));
  return assemble(opts, engine, !opts.engine, alignFiles, threads);
}

/** Refuses tasks with a decoder delta that have no decoder graph of their own. */
function checkDecoderDeltas(opts: OnnxRoutedSegmenterOptions): void {
  const withDelta = tasksWithDecoderDelta(opts.adapters);
  if (!withDelta.length) return;
  const missing = withDelta.filter((id) => !opts.taskDecoderFiles?.has(id));
  if (missing.length)
    throw new OnnxModelError(
      `task${missing.length > 1 ? 's' : ''} ${missing.join(', ')} carry a decoder delta (LoRA) but no decoder ` +
        `graph of their own was given (taskDecoderFiles, from ensureOnnxTaskDecoders); the frozen ONNX decoder ` +
        `cannot apply it`,
    );
  assertDecoderLoraFits(opts.config);
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
  const small = opts.smallGraphThreads ?? smallGraphThreads(opts.config, threads);
  const sessionOptions = ortSessionOptions({
    threads: opts.alignThreads ?? threads,
    spinning: opts.spinning,
  });
  const sessions = new Map<string, ort.InferenceSession>();
  const taskDecoders = new Map<string, OnnxSamEngine>();
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
    for (const a of adapters) {
      if (!a.decoderLora) continue;
      const decoderPath = opts.taskDecoderFiles!.get(a.taskId)!;
      const d = await createOnnxTaskDecoderEngine({
        base: engine,
        decoderPath,
        threads,
        decoderThreads: small,
        spinning: opts.spinning,
      }).catch((e: Error) => {
        throw new OnnxModelError(`failed to load the decoder of task ${a.taskId}: ${e.message}`);
      });
      taskDecoders.set(a.taskId, d);
    }
  } catch (e) {
    if (ownsEngine) engine.dispose();
    for (const d of taskDecoders.values()) d.dispose();
    await Promise.allSettled([...sessions.values()].map((s) => s.release()));
    throw e;
  }
  const predictor: SamPredictor = createSamPredictor(engine);
  // One predictor per task decoder; it is handed the embedding the base predictor made (and aligned).
  const taskPredictors = new Map([...taskDecoders].map(([id, d]) => [id, createSamPredictor(d)]));
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
      const taskPredictor =
        route.decision.kind === 'task' ? taskPredictors.get(route.decision.taskId) : undefined;
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
      // A task with a decoder delta decodes with its own decoder graph (the delta merged in).
      let pred;
      if (taskPredictor) {
        taskPredictor.setEmbedding(predictor.current!);
        pred = await taskPredictor.predict(prompt);
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
      for (const p of taskPredictors.values()) p.reset();
      for (const d of taskDecoders.values()) d.dispose();
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
