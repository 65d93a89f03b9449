import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SamConfig,
  buildSam,
  StateDict,
  float32Tensor,
  toFloat32,
  expectedStateDict,
  writeSafetensors,
  loadSamWeights,
  writeFileAtomic,
} from '@casam/casam-core';
import { EvalResult, evaluateHeldOut, makeHeldOutSet } from './evaluate';
import { EVAL_SEED } from './generic-corpus';
import {
  TRAINING_CURVE_FILE,
  TRAINING_LOG_FILE,
  TrainingCurveError,
  writeTrainingCurve,
} from './training-curve';

export interface ExportInfo {
  /** The exact command line that produced the run. */
  command: string;
  seed: number;
  step: number;
  /** Images seen (steps × batch over all sessions). */
  imagesSeen: number;
  elapsedSeconds: number;
  backend: string;
  options: Record<string, unknown>;
  evalImages: number;
}

export interface ExportResult {
  weightsPath: string;
  bytes: number;
  /** Held-out scores of the exported file, loaded back through loadSamWeights + buildSam. */
  eval: EvalResult;
}

/** The exported model file is larger than the repository allows for shipped weights. */
export class ExportTooLargeError extends Error {
  override name = 'ExportTooLargeError';
}

export const MAX_EXPORT_BYTES = 25 * 1024 * 1024;

interface LogEval {
  type: 'eval';
  step: number;
  elapsed: number;
  boxIou: number;
  boxFillIou: number;
  pointIou: number;
}

interface LogHistory {
  evals: LogEval[];
  /** Stretches of steps with no progress line although the run trained through them ([last seen, next seen]). */
  gaps: [number, number][];
}

/** The evaluations of a training log, and where its progress lines have holes (a log lost in a crash…). */
export function readLogHistory(logPath: string): LogHistory {
  const evals: LogEval[] = [];
  const trainSteps: number[] = [];
  if (!existsSync(logPath)) return { evals, gaps: [] };
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { type?: string; step?: number };
      if (e.type === 'eval') evals.push(e as LogEval);
      else if (e.type === 'train' && typeof e.step === 'number') trainSteps.push(e.step);
    } catch {
      /* a torn last line after a crash */
    }
  }
  // The typical spacing of progress lines; a hole is a step more than 5 spacings after the previous line.
  const spacings = trainSteps
    .slice(1)
    .map((s, i) => s - trainSteps[i])
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  const typical = spacings.length ? spacings[Math.floor(spacings.length / 2)] : 0;
  const gaps: [number, number][] = [];
  for (let i = 1; i < trainSteps.length; i++)
    if (typical > 0 && trainSteps[i] - trainSteps[i - 1] > 5 * typical)
      gaps.push([trainSteps[i - 1], trainSteps[i]]);
  return { evals, gaps };
}

function duration(sec: number): string {
  const total = Math.round(sec / 60);
  const h = Math.floor(total / 60);
  const m = total % 60;
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

/**
 * Writes `<outDir>/<preset>.safetensors` (official names and order, float32) and `<outDir>/README.md`, then
 * loads the file back through the normal checkpoint path (loadSamWeights → buildSam), checks it holds exactly
 * the trained values, and scores it on the held-out set — the numbers the README reports.
 */
export function exportPretrainedModel(
  outDir: string,
  cfg: SamConfig,
  weights: StateDict,
  info: ExportInfo,
  warn: (line: string) => void = (line) => console.error(line),
): ExportResult {
  const ordered: [string, ReturnType<typeof float32Tensor>][] = expectedStateDict(cfg).map(({ name }) => {
    const t = weights.get(name);
    if (!t) throw new Error(`export: weights lack ${name}`);
    return [name, float32Tensor([...t.shape], Float32Array.from(toFloat32(t)))];
  });
  const bytes = writeSafetensors(ordered, {
    format: 'pt',
    config: JSON.stringify(cfg),
    source: `casam-federation: ${info.command}`,
    step: String(info.step),
    seed: String(info.seed),
  });
  if (bytes.byteLength > MAX_EXPORT_BYTES)
    throw new ExportTooLargeError(`${cfg.name}: ${bytes.byteLength} bytes exceed ${MAX_EXPORT_BYTES}`);
  const weightsPath = join(outDir, `${cfg.name}.safetensors`);
  writeFileAtomic(weightsPath, bytes);

  const loaded = loadSamWeights(weightsPath, cfg);
  for (const [name, t] of ordered) {
    const a = t.data as Float32Array;
    const b = toFloat32(loaded.get(name)!);
    for (let i = 0; i < a.length; i++)
      if (!Object.is(a[i], b[i])) throw new Error(`export: ${name}[${i}] changed on the way to disk`);
  }
  const sam = buildSam(cfg, loaded);
  let result: EvalResult;
  try {
    result = evaluateHeldOut(sam, makeHeldOutSet(info.evalImages, 2, cfg.imgSize));
  } finally {
    sam.dispose();
  }
  const logPath = join(outDir, TRAINING_LOG_FILE);
  const curve = drawCurve(outDir, `${cfg.name}: pretraining`, warn);
  writeFileSync(
    join(outDir, 'README.md'),
    readme(cfg, info, result, readLogHistory(logPath), statSync(weightsPath).size, curve),
  );
  return { weightsPath, bytes: bytes.byteLength, eval: result };
}

/**
 * The log's curve beside it (true when drawn). A log the curve cannot read is worth a warning, not a failed
 * export: the weights and README are what the run is for; a run with no log or no evaluation yet has nothing to
 * draw and says nothing. A curve left from an earlier export is removed when there is nothing to draw, so the
 * folder never shows a stale one.
 */
function drawCurve(outDir: string, title: string, warn: (line: string) => void): boolean {
  try {
    writeTrainingCurve(outDir, title);
    return true;
  } catch (e) {
    if (!(e instanceof TrainingCurveError)) throw e;
    if (e.problem === 'unreadable') warn(`warning: no ${TRAINING_CURVE_FILE}: ${e.message}`);
  }
  rmSync(join(outDir, TRAINING_CURVE_FILE), { force: true });
  return false;
}

/** How the weights came to be: from scratch, or warm-started from another model (the run's --init-from). */
function origin(info: ExportInfo): string {
  const from = info.options['initFrom'];
  return typeof from === 'string'
    ? `warm-started from \`${from}\` (grid-dependent tensors resampled; that model's README says how it was made), then trained for ${info.step} steps by this repository's own command`
    : "pretrained from scratch by this repository's own command";
}

function readme(
  cfg: SamConfig,
  info: ExportInfo,
  r: EvalResult,
  log: LogHistory,
  size: number,
  curve: boolean,
): string {
  const history = log.evals;
  const f = (v: number): string => v.toFixed(3);
  const shapes = Object.entries(r.byShape)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([k, s]) => `| ${k} | ${s.count} | ${f(s.boxIou)} | ${f(s.boxFillIou)} |`)
    .join('\n');
  // At most ~25 rows of history, evenly spaced, always with the last one.
  const stride = Math.max(1, Math.ceil(history.length / 25));
  const rows = history.filter((_, i) => i % stride === 0 || i === history.length - 1);
  const hist = rows
    .map(
      (e) =>
        `| ${e.step} | ${duration(e.elapsed)} | ${f(e.boxIou)} | ${f(e.boxFillIou)} | ${f(e.pointIou)} |`,
    )
    .join('\n');
  return `# ${cfg.name}: the embedded default model

The project's own small Segment Anything model (official SAM architecture and parameter names, ${cfg.imgSize} px
input, ViT of depth ${cfg.encoderDepth} and width ${cfg.encoderEmbedDim}, window ${cfg.encoderWindowSize}, ${cfg.outChans}-channel
embeddings), ${origin(info)} on the generic synthetic
promptable-segmentation corpus (\`libs/casam-lab/src/pretrain/generic-corpus.ts\`: overlapping ellipses,
polygons, stars, rings and hollow outlines, nested shapes, blobs, bars, crescents and rounded boxes with
solid, gradient, striped, checkered, dotted and noise fills, clutter, low-contrast objects, blur, noise and
illumination gradients; box and point prompts). ${info.options['corpus'] === undefined || info.options['corpus'] === 'generic' ? `No medical or real images were used${info.options['initFrom'] ? ' in this run' : ''}.` : `Corpus of this run: \`${String(info.options['corpus'])}\` (the log's \`corpus\` entries).`}

| file | what |
|---|---|
| \`${cfg.name}.safetensors\` | weights, float32, official names and order (${size.toLocaleString('en-US')} bytes); loads through \`loadSamWeights\` like any official checkpoint |
| \`training-log.jsonl\` | one JSON line per progress report (\`type: "train"\`) and per held-out evaluation (\`type: "eval"\`) |
${curve ? `| \`${TRAINING_CURVE_FILE}\` | the log's held-out evaluations and training-batch IoU over steps (below) |\n` : ''}| \`checkpoints/\` | resumable training state (weights, Adam moments, step, data cursor); not in git |

## How it was made

\`\`\`sh
${info.command}
\`\`\`

- seed ${info.seed}; ${info.step} optimizer steps; ${info.imagesSeen.toLocaleString('en-US')} images seen; training wall time ${duration(info.elapsedSeconds)}
- backend: ${info.backend.replace(/^backend: /, '')}
- options: \`${JSON.stringify(info.options)}\`

The run resumes where it stopped when the same command is run again (Ctrl-C / SIGTERM save a checkpoint
first); \`--steps\` may be raised to continue training. \`--export-only\` rewrites this folder's model file and
README from the latest checkpoint.

## Held-out result

${r.targets} targets on ${info.evalImages} held-out images (corpus seed ${EVAL_SEED}, never trained on), tight box
prompts, mask = logits > 0 at ${cfg.imgSize} px, scored on the exported file:

| metric | IoU |
|---|---|
| box prompt (single mask) | **${f(r.boxIou)}** |
| box-fill (fill the prompt box) | ${f(r.boxFillIou)} |
| margin | ${r.boxIou >= r.boxFillIou ? '+' : ''}${f(r.boxIou - r.boxFillIou)} |
| one centre point (multimask, best predicted IoU) | ${f(r.pointIou)} |

By shape:

| shape | targets | box IoU | box-fill IoU |
|---|---|---|---|
${shapes}

## IoU over time
${curve ? `\n![held-out IoU over training](${TRAINING_CURVE_FILE})\n` : ''}
| step | trained | box IoU | box-fill | 1-point IoU |
|---|---|---|---|---|
${hist}
${
  log.gaps.length
    ? `\nThe log has no progress lines between steps ${log.gaps.map(([a, b]) => `${a} and ${b}`).join(', ')} (lost, not skipped: the run trained through them and its checkpoints are continuous).\n`
    : ''
}`;
}
