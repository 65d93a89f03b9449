import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@casam/casam-core';
import {
  TRAINING_CURVE_FILE,
  TrainingCurveError,
  trainingCurvePoints,
  trainingCurveSvg,
  writeTrainingCurve,
} from './training-curve';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const train = (step: number, trainIou: number): string =>
  JSON.stringify({ type: 'train', step, loss: 1, trainIou });
const evalAt = (step: number, boxIou: number): string =>
  JSON.stringify({
    type: 'eval',
    step,
    elapsed: step,
    boxIou,
    boxFillIou: 0.5,
    pointIou: boxIou / 2,
    targets: 4,
  });

describe('training curve', () => {
  it('takes one point per evaluated step, the later of a repeated step, with the training IoU logged since the previous one', () => {
    const log = [
      JSON.stringify({ type: 'start', step: 0 }),
      evalAt(0, 0.1),
      train(10, 0.2),
      train(20, 0.4),
      evalAt(20, 0.3),
      JSON.stringify({ type: 'resume', step: 20 }),
      evalAt(20, 0.31), // evaluated again after a resume
      train(30, 0.6),
      evalAt(30, 0.5),
      '{"type":"train","st', // torn last line after a crash
    ].join('\n');
    const p = trainingCurvePoints(log);
    expect(p.map((x) => x.step)).toEqual([0, 20, 30]);
    expect(p.map((x) => x.boxIou)).toEqual([0.1, 0.31, 0.5]);
    expect(p[0].trainIou).toBeNull();
    expect(p[1].trainIou).toBeCloseTo(0.3, 12);
    expect(p[2].trainIou).toBeCloseTo(0.6, 12);
    expect(p[2].pointIou).toBe(0.25);
    expect(p.every((x) => x.domainBoxIou === null)).toBe(true);
  });

  it('adds the benchmark domains at the steps the held-out set was evaluated, and keeps the later of repeated lines', () => {
    const domains = (step: number, meanBoxIou: number): string =>
      JSON.stringify({ type: 'eval-domains', step, meanBoxIou, meanBoxFillIou: 0.7, domains: 12 });
    const p = trainingCurvePoints(
      [evalAt(0, 0.1), domains(0, 0.6), domains(5, 0.65), train(8, 0.9), train(8, 0.5), evalAt(10, 0.3)].join(
        '\n',
      ),
    );
    expect(p.map((x) => [x.step, x.boxIou, x.domainBoxIou, x.trainIou])).toEqual([
      [0, 0.1, 0.6, null],
      [10, 0.3, null, 0.5],
    ]);
    const svg = trainingCurveSvg(p, 't');
    expect(svg).toContain('box (12 domains)');
    expect(trainingCurveSvg(p.slice(1), 't')).not.toContain('12 domains');
    // Domains alone: nothing held out to draw.
    expect(trainingCurvePoints(domains(5, 0.6))).toEqual([]);
  });

  it('names the line of a corrupt log and refuses one with nothing to draw', () => {
    expect(() => trainingCurvePoints([evalAt(0, 0.1), 'garbage', evalAt(10, 0.2)].join('\n'))).toThrow(
      /line 2 of the training log is not JSON/,
    );
    expect(() => trainingCurveSvg(trainingCurvePoints(train(10, 0.5)), 't')).toThrow(TrainingCurveError);
  });

  it('draws every series with one tick per evaluation and writes the PNG beside the log', () => {
    const points = trainingCurvePoints([evalAt(0, 0.1), train(5, 0.4), evalAt(10, 0.3)].join('\n'));
    const svg = trainingCurveSvg(points, 'casam-test: pretraining');
    for (const text of [
      'casam-test: pretraining',
      'box prompt (held-out)',
      'box-fill (held-out)',
      'training batches',
      'optimizer step',
    ])
      expect(svg).toContain(text);
    const dir = mkdtempSync(join(tmpdir(), 'curve-'));
    dirs.push(dir);
    expect(() => writeTrainingCurve(dir, 't')).toThrow(
      expect.objectContaining({
        problem: 'no-log',
        message: expect.stringMatching(/has no training-log.jsonl/),
      }),
    );
    writeFileSync(join(dir, 'training-log.jsonl'), train(5, 0.4));
    expect(() => writeTrainingCurve(dir, 't')).toThrow(expect.objectContaining({ problem: 'no-evaluation' }));
    writeFileSync(join(dir, 'training-log.jsonl'), ['{', evalAt(0, 0.1)].join('\n'));
    expect(() => writeTrainingCurve(dir, 't')).toThrow(expect.objectContaining({ problem: 'unreadable' }));
    writeFileSync(join(dir, 'training-log.jsonl'), [evalAt(0, 0.1), evalAt(10, 0.3)].join('\n'));
    const r = writeTrainingCurve(dir, 't');
    expect(r).toEqual({ path: join(dir, TRAINING_CURVE_FILE), points: 2 });
    const img = decodeImage(readFileSync(r.path));
    expect(img.width).toBe(960);
  });
});
