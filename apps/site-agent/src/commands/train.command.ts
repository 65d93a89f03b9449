import {
  MIN_TAU_TRAINING_IMAGES,
  DEFAULT_AL_EPOCHS,
  DEFAULT_AL_LR,
  DEFAULT_PRESET,
  DEFAULT_VAE_OPTIONS,
  type TaskProgress,
  DEFAULT_DECODER_LORA_RANK,
  type DecoderLoraTrainingOptions,
  DEFAULT_TAU_PERCENTILE,
  TAU_PERCENTILE_RANGE,
} from '@casam/casam-core';
import { DECODER_LORA_LIMITS } from '@casam/protocol';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome } from '../home/agent-home';
import { DEFAULT_ENGINE, parseEngineChoice } from '../model/engine-factory';
import { trainLocalTask } from '../use-cases/train-task';
import { ENGINE_HELP, ENGINE_OPTION } from './model-options';
import type { Command, OptionValues } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train the task locally: embedding cache, Alignment Layer, VAE, τ, validation metrics (resumable)',
  usage: `site-agent train --task <name> [--epochs <n>] [--vae-epochs <n>] [--max-images <n>] [--seed <n>]
                 [--decoder-lora [--lora-rank <r>] [--lora-alpha <a>]] [--tau-percentile <p>] [--restart] [--offline]
                 [--force] [--home <dir>]
  --epochs <n>              Alignment Layer epochs (default ${DEFAULT_AL_EPOCHS}; learning rate: the preset's, ${DEFAULT_PRESET} ${DEFAULT_AL_LR[DEFAULT_PRESET]})
  --vae-epochs <n>          VAE epochs (default ${DEFAULT_VAE_OPTIONS.epochs}; more on small data, at least ${DEFAULT_VAE_OPTIONS.minSteps} steps; n given
                            here is exact; batch ${DEFAULT_VAE_OPTIONS.batchSize}, learning rate ${DEFAULT_VAE_OPTIONS.lr})
  --max-images <n>          use at most n training and n validation images (default: all; for quick runs)
  --seed <n>                seed of prompts, batches and initial weights (default 0)
  --decoder-lora            also train a low-rank (LoRA) delta on the mask decoder with the Alignment Layer; the
                            adapter becomes version 2 (coordinators and site agents from issue 19 on read it)
  --lora-rank <r>           rank of the delta, 1..${DECODER_LORA_LIMITS.maxRank} (default ${DEFAULT_DECODER_LORA_RANK})
  --lora-alpha <a>          scale numerator (scale alpha/rank; default the rank)
  --tau-percentile <p>      τ at this percentile of the held-out VAE scores, ${TAU_PERCENTILE_RANGE.min}..${TAU_PERCENTILE_RANGE.max} (default ${DEFAULT_TAU_PERCENTILE},
                            the paper's): higher routes more of the task's own images to its layer and lets more
                            images of other domains through too (docs/site-agent.md, "Enough images for τ"); on a
                            task already trained it re-takes τ from the stored held-out scores, training nothing
  --restart                 discard earlier progress of this task and start over (default: resume)
  --offline                 do not stream training progress to the coordinator (default: stream it when the task
                            was proposed and the site is enrolled)
  --force                   train with fewer than ${MIN_TAU_TRAINING_IMAGES} training images (refused otherwise: τ from fewer images
                            accepts too few of the task's own images or too many of other domains', see
                            bench/results/tau-data.md)
Fixed: box or point prompts 50/50, one per region (connected component of a class mask); τ by 5-fold
calibration.
Ctrl-C stops after the current step; run the same command again to resume where it stopped.
${ENGINE_HELP}
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
    'decoder-lora': { type: 'boolean', default: false },
    'lora-rank': { type: 'string' },
    'lora-alpha': { type: 'string' },
    'tau-percentile': { type: 'string' },
    ...ENGINE_OPTION,
  },
  async run(v, log) {
    const home = new AgentHome(v.string('home'));
    const name = v.string('task', true);
    const intOpt = (k: string) => {
      const s = v.string(k);
      if (s === undefined) return undefined;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new UserError(`--${k} must be a positive integer`, EXIT.usage);
      return n;
    };
    const decoderLora = decoderLoraFlags(v);
    const tauPercentile = tauPercentileFlag(v.string('tau-percentile'));
    const controller = new AbortController();
    const onSigint = () => {
      log('interrupt: stopping after the current step (Ctrl-C again to quit at once)…');
      controller.abort();
      process.once('SIGINT', () => process.exit(EXIT.interrupted));
    };
    process.once('SIGINT', onSigint);
    try {
      const t = await trainLocalTask({
        home,
        name,
        maxImages: intOpt('max-images'),
        epochs: intOpt('epochs'),
        vaeEpochs: intOpt('vae-epochs'),
        seed: Number(v.string('seed')),
        restart: v.bool('restart'),
        offline: v.bool('offline'),
        force: v.bool('force'),
        engine: parseEngineChoice(v.string('engine') ?? DEFAULT_ENGINE),
        ...(decoderLora ? { decoderLora } : {}),
        ...(tauPercentile !== undefined ? { tauPercentile } : {}),
        onProgress: progressPrinter(log),
        signal: controller.signal,
        log,
      });
      console.log(
        `task ${name}: adapter ${t.adapterPath}\n  validation IoU ${t.iou.toFixed(3)} (frozen SAM ${t.frozenIou.toFixed(3)}, box-fill ${t.boxFillIou.toFixed(3)}), Dice ${t.dice.toFixed(3)}; τ ${t.tau.toFixed(4)} (p${t.tauPercentile})` +
          `\n  verdict: ${t.verdict.text}` +
          (t.verdict.kind === 'below-frozen' ? '\n  upload will ask for --force' : ''),
      );
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};

/** `--decoder-lora [--lora-rank r] [--lora-alpha a]` → the trainer's option; rank/alpha alone are a usage error. */
function decoderLoraFlags(v: OptionValues): DecoderLoraTrainingOptions | undefined {
  const rank = v.string('lora-rank');
  const alpha = v.string('lora-alpha');
  if (!v.bool('decoder-lora')) {
    if (rank !== undefined || alpha !== undefined)
      throw new UserError('--lora-rank and --lora-alpha go with --decoder-lora', EXIT.usage);
    return undefined;
  }
  const r = rank === undefined ? DEFAULT_DECODER_LORA_RANK : Number(rank);
  if (!Number.isInteger(r) || r < 1 || r > DECODER_LORA_LIMITS.maxRank)
    throw new UserError(`--lora-rank must be an integer 1..${DECODER_LORA_LIMITS.maxRank}`, EXIT.usage);
  const a = alpha === undefined ? r : Number(alpha);
  if (!(a > 0 && a <= DECODER_LORA_LIMITS.maxAlpha))
    throw new UserError(`--lora-alpha must be a number in (0, ${DECODER_LORA_LIMITS.maxAlpha}]`, EXIT.usage);
  return { rank: r, alpha: a };
}

/** `--tau-percentile p` → the percentile τ is taken at (undefined: the trainer's default). */
function tauPercentileFlag(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const p = Number(s);
  if (s.trim() === '' || !(p >= TAU_PERCENTILE_RANGE.min && p <= TAU_PERCENTILE_RANGE.max))
    throw new UserError(
      `--tau-percentile must be a number from ${TAU_PERCENTILE_RANGE.min} to ${TAU_PERCENTILE_RANGE.max}, got "${s}"`,
      EXIT.usage,
    );
  return p;
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
