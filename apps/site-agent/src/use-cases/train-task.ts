/**
 * Use case: train one local task — embedding cache, Alignment Layer, VAE, τ, validation metrics — on the agent
 * home's frozen base model, resumable phase by phase, and record the result in the task. While it trains, stage,
 * epoch and loss go to the coordinator for the admins' live view when the task was proposed and the site is
 * enrolled. `site-agent train` calls it.
 */
import { join } from 'node:path';
import {
  type DatasetItem,
  type DecoderLoraTrainingOptions,
  loadItem,
  MIN_TAU_TRAINING_IMAGES,
  type TaskProgress,
  TaskStateMismatchError,
  trainTask,
  TrainerInputError,
  TrainingAbortedError,
  type TrainingItem,
} from '@casam/casam-core';
import { type AdapterVerdict, adapterVerdict } from '@casam/protocol';
import { EXIT, UserError } from '../cli/errors';
import { ProgressRelay } from '../daemon/progress-relay';
import type { AgentHome } from '../home/agent-home';
import { type EngineChoice, loadBaseModel } from '../model/engine-factory';
import { TaskStore } from '../tasks/local-task';
import { openAgent } from './agent-context';

export interface TrainTaskRequest {
  home: AgentHome;
  /** The task's local name. */
  name: string;
  /** Use at most this many training and this many validation images. */
  maxImages?: number;
  /** Alignment Layer and VAE epochs (the trainer's defaults when undefined). */
  epochs?: number;
  vaeEpochs?: number;
  seed: number;
  /** Discard earlier progress of this task and start over. */
  restart: boolean;
  /** Do not stream progress to the coordinator. */
  offline: boolean;
  /** Train with fewer than MIN_TAU_TRAINING_IMAGES training images. */
  force: boolean;
  /** Engine of the embedding phase and the validation passes (default DEFAULT_ENGINE); training runs on TF.js. */
  engine?: EngineChoice;
  /** Also train a low-rank delta on the mask decoder with the Alignment Layer (a version 2 adapter). */
  decoderLora?: DecoderLoraTrainingOptions;
  /** The percentile of the held-out VAE scores τ is taken at (default the trainer's, the paper's 97th). */
  tauPercentile?: number;
  onProgress: (p: TaskProgress) => void;
  /** Aborting stops after the current step (exit 130, resumable). */
  signal: AbortSignal;
  log: (l: string) => void;
}

export interface TrainedTask {
  adapterPath: string;
  iou: number;
  dice: number;
  frozenIou: number;
  boxFillIou: number;
  tau: number;
  tauPercentile: number;
  verdict: AdapterVerdict;
}

export async function trainLocalTask(o: TrainTaskRequest): Promise<TrainedTask> {
  const { home, name, log } = o;
  const config = home.readConfig();
  const store = new TaskStore(home);
  const task = store.read(name);
  const index = store.readIndex(name);
  const pick = (split: string) => {
    const items = index.items.filter((i) => i.split === split);
    return o.maxImages ? items.slice(0, o.maxImages) : items;
  };
  const trainCount = pick('train').length;
  if (trainCount < MIN_TAU_TRAINING_IMAGES) {
    const why =
      `task ${name} has ${trainCount} training image${trainCount === 1 ? '' : 's'}; τ calibrated from fewer than ` +
      `${MIN_TAU_TRAINING_IMAGES} is not trusted (bench/results/tau-data.md: on casam-small a task's τ from 5 or 8 ` +
      `images accepted only 85–89% of its own test images; on casam-tiny, before the VAEs' 150-step floor, τ from ` +
      `16 images let only 15% of an unseen domain fall back to frozen SAM)`;
    if (!o.force) throw new UserError(`${why}; add images, or train anyway with --force`, EXIT.input);
    log(`warning: ${why}; training anyway (--force)`);
  }
  const base = await loadBaseModel(home, config, log, o.engine);
  const outPath = join(store.dir(name), 'adapter.safetensors');
  // Admins see the progress live when the task is known to the coordinator and the site is enrolled.
  let relay: ProgressRelay | null = null;
  if (task.coordinator && home.readState().siteId && !o.offline) {
    relay = new ProgressRelay((await openAgent(home.dir)).client, task.coordinator.taskId, log);
    relay.start();
  }
  try {
    const result = await trainTask({
      taskId: task.coordinator?.taskId ?? name,
      train: lazyItems(pick('train')),
      val: lazyItems(pick('val')),
      engine: base.engine,
      sam: base.sam,
      // The validation passes decode on ONNX Runtime when it is the engine in use; training stays on TF.js.
      ...(base.engine.kind === 'onnx' ? { validationEngine: base.engine } : {}),
      baseModel: { preset: config.model.preset, fingerprint: base.fingerprint },
      cacheDir: join(home.dir, 'cache', 'embeddings'),
      workDir: join(store.dir(name), 'training'),
      outPath,
      seed: o.seed,
      al: { epochs: o.epochs, ...(o.decoderLora ? { decoderLora: o.decoderLora } : {}) },
      vae: { epochs: o.vaeEpochs },
      ...(o.tauPercentile !== undefined ? { tau: { percentile: o.tauPercentile } } : {}),
      restart: o.restart,
      onProgress: (p) => {
        o.onProgress(p);
        relay?.report(p);
      },
      signal: o.signal,
    });
    const e = result.evaluation;
    await relay?.finish('done', { iou: e.align.iou, dice: e.align.dice, frozenIou: e.frozen.iou });
    relay = null;
    store.update(name, (t) => {
      t.training = {
        adapter: outPath,
        trainedAt: new Date().toISOString(),
        metrics: {
          iou: e.align.iou,
          dice: e.align.dice,
          frozenIou: e.frozen.iou,
          boxFillIou: e.boxFill.iou,
        },
        tau: result.tau.tau,
        tauPercentile: result.tau.percentile,
      };
    });
    return {
      adapterPath: outPath,
      iou: e.align.iou,
      dice: e.align.dice,
      frozenIou: e.frozen.iou,
      boxFillIou: e.boxFill.iou,
      tau: result.tau.tau,
      tauPercentile: result.tau.percentile,
      verdict: adapterVerdict(result.metadata.metrics),
    };
  } catch (err) {
    if (err instanceof TrainingAbortedError)
      throw new UserError(`training of ${name} interrupted; run the same command to resume`, 130);
    if (err instanceof TaskStateMismatchError)
      throw new UserError(`${err.message} (use --restart to discard the earlier progress)`, EXIT.input);
    if (err instanceof TrainerInputError) throw new UserError(err.message, EXIT.input);
    throw err;
  } finally {
    await relay?.finish('failed');
  }
}

async function* lazyItems(items: DatasetItem[]): AsyncGenerator<TrainingItem> {
  for (const it of items) {
    const loaded = await loadItem(it);
    yield {
      id: it.id,
      image: loaded.image,
      masks: loaded.masks.map((m) => ({ classId: m.className, mask: m.data })),
    };
  }
}
