/**
 * Use case: segment one image from a box and/or points. With the agent home's base model the image is routed
 * through the installed router bundle (a task's Alignment Layer, or frozen SAM when no task accepts it); with
 * model files named on the command line plain SAM answers. `site-agent segment` calls both; `serve` routes each
 * request the same way in serve/segmentation-server.ts, with the base model loaded once.
 */
import {
  createSamPredictor,
  encodeMaskPng,
  PromptError,
  type RgbImage,
  type RoutedSegmenter,
  writeSafetensors,
} from '@casam/casam-core';
import type { Box } from '../cli/args';
import { EXIT, UserError } from '../cli/errors';
import { BundleStore } from '../bundle/bundle-store';
import { type ActiveBundle, loadActiveBundle } from '../bundle/installed-bundle';
import type { AgentHome } from '../home/agent-home';
import {
  type BaseModel,
  createEngine,
  type EngineChoice,
  loadBaseModel,
  type ModelFiles,
} from '../model/engine-factory';
import { decisionJson, type SegmentDecisionJson } from './routing-decision';

export interface SegmentRequest {
  image: RgbImage;
  /** Where the image came from, for messages. */
  imagePath: string;
  box?: Box;
  points: { xy: [number, number]; label: number }[];
  /** Predict 3 candidate masks and keep the one with the best predicted IoU. */
  multimask: boolean;
}

/** The routed answer: the mask PNG (0/255, the image's size) and the routing decision. */
export interface RoutedSegmentation {
  maskPng: Uint8Array;
  decision: SegmentDecisionJson;
}

/** The plain-SAM answer: the mask PNG, and optionally the raw decoder outputs as safetensors. */
export interface SamSegmentation {
  maskPng: Uint8Array;
  /** low_res_masks [1,K,h,w] and iou_predictions [1,K], when asked for. */
  logits?: Uint8Array;
  foregroundPixels: number;
  predictedIou: number;
  /** How many candidate masks the best was picked from. */
  candidates: number;
}

/** The home's base model routed by its installed bundle, ready to segment; the caller disposes `segmenter`. */
export interface HomeSegmenter {
  base: BaseModel;
  bundle: ActiveBundle | null;
  segmenter: RoutedSegmenter;
}

/** Opens the agent home's base model and the installed router bundle (frozen SAM alone when there is none). */
export async function openHomeSegmenter(
  home: AgentHome,
  log: (l: string) => void,
  engine?: EngineChoice,
): Promise<HomeSegmenter> {
  const config = home.readConfig();
  const base = await loadBaseModel(home, config, log, engine);
  const bundle = await loadActiveBundle(
    new BundleStore(home.bundlesDir),
    home.readState(),
    base.fingerprint,
    base.config.outChans,
    log,
  );
  if (!bundle) log('no usable router bundle installed: every image goes to frozen SAM (run site-agent pull)');
  return { base, bundle, segmenter: await base.createSegmenter(bundle?.adapters ?? []) };
}

/** Segments with the agent home's base model, routed by the installed bundle (frozen SAM when there is none). */
export async function segmentWithBundle(
  home: AgentHome,
  r: SegmentRequest,
  log: (l: string) => void,
  engine?: EngineChoice,
): Promise<RoutedSegmentation> {
  const { bundle, segmenter: seg } = await openHomeSegmenter(home, log, engine);
  try {
    const p = await promptChecked(r, () => seg.segment(r.image, samPrompt(r)));
    return {
      maskPng: encodeMaskPng(p.binary[p.best], r.image.width, r.image.height),
      decision: decisionJson(p, bundle?.names ?? new Map(), bundle?.installed.version ?? null),
    };
  } finally {
    seg.dispose();
  }
}

/** Segments with plain SAM from the model files the flags name, on the chosen engine. */
export async function segmentWithModel(
  engineChoice: EngineChoice,
  files: ModelFiles,
  r: SegmentRequest & { withLogits: boolean },
  log: (l: string) => void,
): Promise<SamSegmentation> {
  const engine = await createEngine(engineChoice, files, log);
  const predictor = createSamPredictor(engine);
  try {
    await predictor.setImage(r.image);
    const pred = await promptChecked(r, () => predictor.predict(samPrompt(r)));
    const k = pred.best;
    const logits = r.withLogits
      ? writeSafetensors(
          [
            ['low_res_masks', pred.lowResMasks],
            [
              'iou_predictions',
              {
                dtype: 'float32',
                shape: [1, pred.iouPredictions.length],
                data: Float32Array.from(pred.iouPredictions),
              },
            ],
          ],
          { model: engine.config.name, engine: engine.kind },
        )
      : undefined;
    return {
      maskPng: encodeMaskPng(pred.binary[k], r.image.width, r.image.height),
      logits,
      foregroundPixels: pred.binary[k].reduce((a, b) => a + b, 0),
      predictedIou: pred.iouPredictions[k],
      candidates: pred.binary.length,
    };
  } finally {
    predictor.dispose();
  }
}

function samPrompt(r: SegmentRequest) {
  return {
    box: r.box,
    points: r.points.length ? r.points.map((p) => p.xy) : undefined,
    labels: r.points.length ? r.points.map((p) => p.label) : undefined,
    multimask: r.multimask,
  };
}

/** A prompt the model refuses is the user's input (exit 3), named by the image it was for. */
async function promptChecked<T>(r: SegmentRequest, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof PromptError) throw new UserError(`${r.imagePath}: ${e.message}`, EXIT.input);
    throw e;
  }
}
