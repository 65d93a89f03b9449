import { join } from 'node:path';
import {
  MIN_TAU_TRAINING_IMAGES,
  DEFAULT_AL_EPOCHS,
  DEFAULT_AL_LR,
  DEFAULT_VAE_OPTIONS,
  type DatasetItem,
  loadItem,
  type TaskProgress,
  TaskStateMismatchError,
  trainTask,
  TrainerInputError,
  TrainingAbortedError,
  type TrainingItem,
} from '@casam/casam-core';
import { adapterVerdict } from '@casam/protocol';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome } from '../home/agent-home';
import { loadBaseModel } from '../model/base-model';
import { TaskStore } from '../tasks/local-task';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION, openAgent } from './agent-context';
import { ProgressRelay } from '../daemon/progress-relay';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train the task locally: embedding cache, Alignment Layer, VAE, τ, validation metrics (resumable)',
  usage: `site-agent train --task <name> [--epochs <n>] [--vae-epochs <n>] [--max-images <n>] [--seed <n>]
                 [--restart] [--offline] [--force] [--home <dir>]
  --epochs <n>              Alignment Layer epochs (default ${DEFAULT_AL_EPOCHS}; learning rate: the preset's, casam-tiny ${DEFAULT_AL_LR['casam-tiny']})
  --vae-epochs <n>          VAE epochs (default ${DEFAULT_VAE_OPTIONS.epochs}; batch ${DEFAULT_VAE_OPTIONS.batchSize}, learning rate ${DEFAULT_VAE_OPTIONS.lr})
  --max-images <n>          use at most n training and n validation images (default: all; for quick runs)
  --seed <n>                seed of prompts, batches and initial weights (default 0)
  --restart                 discard earlier progress of this task and start over (default: resume)
  --offline                 do not stream training progress to the coordinator (default: stream it when the task
                            was proposed and the site is enrolled)
  --force                   train with fewer than ${MIN_TAU_TRAINING_IMAGES} training images (refused otherwise: τ from fewer images
                            accepts images of other domains, see bench/results/tau-data.md)
Fixed: box or point prompts 50/50, one per region (connected component of a class mask); τ by 5-fold
calibration at the 97th percentile.
Ctrl-C stops after the current step; run the same command again to resume where it stopped.
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    task: { type: 'string' },
    epochs: { type: 'string' },
    'vae-epochs': { type: 'string' },
    'max-images': { type: 'string' },
    restart: { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
    offline: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  },
  async run(v, log) {
    const home = new AgentHome(v.string('home'));
    const config = home.readConfig();
    const store = new TaskStore(home);
    const name = v.string('task', true);
    const task = store.read(name);
    const index = store.readIndex(name);
    const intOpt = (k: string) => {
      const s = v.string(k);
      if (s === undefined) return undefined;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new UserError(`--${k} must be a positive integer`, EXIT.usage);
      return n;
    };
    const maxImages = intOpt('max-images');
    const pick = (split: string) => {
      const items = index.items.filter((i) => i.split === split);
      return maxImages ? items.slice(0, maxImages) : items;
    };
    const trainCount = pick('train').length;
    if (trainCount < MIN_TAU_TRAINING_IMAGES) {
      const why =
        `task ${name} has ${trainCount} training image${trainCount === 1 ? '' : 's'}; τ calibrated from fewer than ` +
        `${MIN_TAU_TRAINING_IMAGES} accepts most images of other domains (from 16 images per task only 15% of an ` +
        `unseen domain fell back to frozen SAM, from 32 images 92%)`;
      if (!v.bool('force'))
        throw new UserError(`${why}; add images, or train anyway with --force`, EXIT.input);
      log(`warning: ${why}; training anyway (--force)`);
    }
    const base = await loadBaseModel(home, config, log);
    const controller = new AbortController();
    const onSigint = () => {
      log('interrupt: stopping after the current step (Ctrl-C again to quit at once)…');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSigint);
    const outPath = join(store.dir(name), 'adapter.safetensors');
    // Admins see the progress live when the task is known to the coordinator and the site is enrolled.
    let relay: ProgressRelay | null = null;
    if (task.coordinator && home.readState().siteId && !v.bool('offline')) {
      relay = new ProgressRelay((await openAgent(v.string('home'))).client, task.coordinator.taskId, log);
      relay.start();
    }
    const printer = progressPrinter(log);
    try {
      const result = await trainTask({
        taskId: task.coordinator?.taskId ?? name,
        train: lazyItems(pick('train')),
        val: lazyItems(pick('val')),
        engine: base.engine,
        sam: base.sam,
        baseModel: { preset: config.model.preset, fingerprint: base.fingerprint },
        cacheDir: join(home.dir, 'cache', 'embeddings'),
        workDir: join(store.dir(name), 'training'),
        outPath,
        seed: Number(v.string('seed')),
        al: { epochs: intOpt('epochs') },
        vae: { epochs: intOpt('vae-epochs') },
        restart: v.bool('restart'),
        onProgress: (p) => {
          printer(p);
          relay?.report(p);
        },
        signal: controller.signal,
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
        };
      });
      const verdict = adapterVerdict(result.metadata.metrics);
      console.log(
        `task ${name}: adapter ${outPath}\n  validation IoU ${e.align.iou.toFixed(3)} (frozen SAM ${e.frozen.iou.toFixed(3)}, box-fill ${e.boxFill.iou.toFixed(3)}), Dice ${e.align.dice.toFixed(3)}; τ ${result.tau.tau.toFixed(4)}` +
          `\n  verdict: ${verdict.text}` +
          (verdict.kind === 'below-frozen' ? '\n  upload will ask for --force' : ''),
      );
    } catch (err) {
      if (err instanceof TrainingAbortedError)
        throw new UserError(`training of ${name} interrupted; run the same command to resume`, 130);
      if (err instanceof TaskStateMismatchError)
        throw new UserError(`${err.message} (use --restart to discard the earlier progress)`, EXIT.input);
      if (err instanceof TrainerInputError) throw new UserError(err.message, EXIT.input);
      throw err;
    } finally {
      process.removeListener('SIGINT', onSigint);
      await relay?.finish('failed');
    }
  },
};

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

/** One line per phase start/end, and a progress line at most every 2 s inside a phase. */
function progressPrinter(log: (l: string) => void): (p: TaskProgress) => void {
  let lastAt = 0;
  return (p) => {
    if (p.status === 'start') log(`${p.phase}…`);
    else if (p.status === 'done') log(`${p.phase} done in ${p.seconds?.toFixed(1)} s`);
    else if (p.status === 'cached') log(`${p.phase}: done in an earlier run`);
    else {
      let line = '';
      if (p.embed)
        line = `${p.phase} ${p.embed.split}: ${p.embed.done}${p.embed.total ? `/${p.embed.total}` : ''} image(s)`;
      else if (p.align)
        line = `align epoch ${p.align.epoch}/${p.align.epochs} step ${p.align.step}/${p.align.stepsPerEpoch} loss ${p.align.loss?.toFixed(4) ?? ''}`;
      else if (p.vae) line = `vae epoch ${p.vae.epoch}/${p.vae.epochs} loss ${p.vae.loss?.toFixed(4) ?? ''}`;
      else if (p.tau) line = `tau fold ${p.tau.fold}/${p.tau.folds}`;
      else if (p.evaluate) line = `evaluate ${p.evaluate.done}/${p.evaluate.total}`;
      if (line && Date.now() - lastAt >= 2000) {
        lastAt = Date.now();
        log(`  ${line}`);
      }
    }
  };
}
