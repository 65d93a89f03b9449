/**
 * The pretraining curve of a model folder, drawn from its `training-log.jsonl`: held-out box IoU, box-fill and
 * one-centre-point IoU at every evaluation, the mean IoU of the training batches logged since the evaluation
 * before, and, where the run evaluated them (`npm run pretrain -- --domain-eval-images`), the 12 benchmark domains' mean box IoU against
 * their box-fill, over optimizer steps. `exportPretrainedModel` writes it beside the log as `training-curve.png`;
 * `npm run pretrain:curve -- --model <folder>…` redraws it for folders exported before the curve existed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@casam/casam-core';
import { lineChart, svgToPng } from '../report';

export const TRAINING_LOG_FILE = 'training-log.jsonl';
export const TRAINING_CURVE_FILE = 'training-curve.png';

/** Why no curve: the folder has no log, the log has no evaluation yet, or a line of it is not JSON. */
export type TrainingCurveProblem = 'no-log' | 'no-evaluation' | 'unreadable';

export class TrainingCurveError extends Error {
  override name = 'TrainingCurveError';
  constructor(
    message: string,
    readonly problem: TrainingCurveProblem,
  ) {
    super(message);
  }
}

export interface TrainingCurvePoint {
  step: number;
  /** Held-out set of the generic corpus: box prompt, box-fill, one centre point. */
  boxIou: number;
  boxFillIou: number;
  pointIou: number;
  /** Mean training-batch IoU of the progress lines after the previous point up to this one; null if none. */
  trainIou: number | null;
  /** Mean box IoU and box-fill over the benchmark domains (an `eval-domains` line); null where not evaluated. */
  domainBoxIou: number | null;
  domainBoxFillIou: number | null;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * One point per evaluated step, in step order. A resumed run can evaluate a step twice (the evaluation before a
 * crash and the one after the resume): the later line wins. A torn last line (a crash mid-write) is skipped;
 * any other line that is not JSON is an error naming its line number.
 */
export function trainingCurvePoints(logText: string): TrainingCurvePoint[] {
  const evals = new Map<number, TrainingCurvePoint>();
  const domains = new Map<number, { box: number; fill: number }>();
  const train = new Map<number, number>();
  const lines = logText.split('\n');
  const last = lines.map((l) => l.trim() !== '').lastIndexOf(true);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (i === last) return;
      throw new TrainingCurveError(`line ${i + 1} of the training log is not JSON`, 'unreadable');
    }
    if (!isNum(e.step)) return;
    if (e.type === 'eval' && isNum(e.boxIou) && isNum(e.boxFillIou) && isNum(e.pointIou))
      evals.set(e.step, {
        step: e.step,
        boxIou: e.boxIou,
        boxFillIou: e.boxFillIou,
        pointIou: e.pointIou,
        trainIou: null,
        domainBoxIou: null,
        domainBoxFillIou: null,
      });
    else if (e.type === 'eval-domains' && isNum(e.meanBoxIou) && isNum(e.meanBoxFillIou))
      domains.set(e.step, { box: e.meanBoxIou, fill: e.meanBoxFillIou });
    else if (e.type === 'train' && isNum(e.trainIou)) train.set(e.step, e.trainIou);
  });
  // The pretrainer evaluates the domains at the steps it evaluates the held-out set; one without the other is
  // not drawn (a tick with half its series missing would break every line).
  const points = [...evals.values()].sort((a, b) => a.step - b.step);
  const trainSteps = [...train.keys()].sort((a, b) => a - b);
  points.forEach((p, k) => {
    const d = domains.get(p.step);
    if (d) [p.domainBoxIou, p.domainBoxFillIou] = [d.box, d.fill];
    const from = k === 0 ? -Infinity : points[k - 1].step;
    const batch = trainSteps.filter((s) => s > from && s <= p.step).map((s) => train.get(s)!);
    p.trainIou = batch.length ? batch.reduce((a, b) => a + b, 0) / batch.length : null;
  });
  return points;
}

/** The curve as an SVG document (report-charts' line chart). */
export function trainingCurveSvg(points: readonly TrainingCurvePoint[], title: string): string {
  if (points.length === 0)
    throw new TrainingCurveError('the training log has no held-out evaluation to draw', 'no-evaluation');
  const domains = points.some((p) => p.domainBoxIou !== null);
  return lineChart({
    title,
    subtitle:
      'held-out set of the generic corpus (tight box prompts) at each evaluation; training batches between them' +
      (domains ? '; the 12 benchmark domains where evaluated' : ''),
    xTicks: points.map((p) => String(p.step)),
    xLabel: 'optimizer step',
    yLabel: 'IoU',
    yMin: 0,
    yMax: 1,
    series: [
      { name: 'box prompt (held-out)', values: points.map((p) => p.boxIou) },
      { name: 'box-fill (held-out)', values: points.map((p) => p.boxFillIou), dashed: true },
      { name: 'one point (held-out)', values: points.map((p) => p.pointIou) },
      { name: 'training batches', values: points.map((p) => p.trainIou) },
      ...(domains
        ? [
            { name: 'box (12 domains)', values: points.map((p) => p.domainBoxIou) },
            { name: 'box-fill (12 domains)', values: points.map((p) => p.domainBoxFillIou), dashed: true },
          ]
        : []),
    ],
    width: 960,
  });
}

/**
 * Draws `<dir>/training-curve.png` from `<dir>/training-log.jsonl` (written atomically). Returns its path and
 * the number of evaluations drawn.
 */
export function writeTrainingCurve(dir: string, title: string): { path: string; points: number } {
  const logPath = join(dir, TRAINING_LOG_FILE);
  if (!existsSync(logPath)) throw new TrainingCurveError(`${dir} has no ${TRAINING_LOG_FILE}`, 'no-log');
  const points = trainingCurvePoints(readFileSync(logPath, 'utf8'));
  const path = join(dir, TRAINING_CURVE_FILE);
  writeFileAtomic(path, svgToPng(trainingCurveSvg(points, title)));
  return { path, points: points.length };
}
