import { describe, expect, it } from 'vitest';
import { trainingProgressProblems } from './realtime';

const taskId = '0b7c6f0e-9a51-4a55-8f1b-2d9b8a1f3c10';

describe('trainingProgressProblems', () => {
  it('accepts a well-formed report, with and without loss and metrics', () => {
    expect(trainingProgressProblems({ taskId, stage: 'training_align', epoch: 3, epochs: 20 })).toEqual([]);
    expect(
      trainingProgressProblems({
        taskId,
        stage: 'evaluating',
        epoch: 20,
        epochs: 20,
        loss: 0.12,
        metrics: { iou: 0.8, 'dice.mean': 0.9 },
      }),
    ).toEqual([]);
  });

  it('lists every problem of a bad report', () => {
    const p = trainingProgressProblems({
      taskId: 'not-a-uuid',
      stage: 'dreaming',
      epoch: 5,
      epochs: 4,
      loss: Number.NaN,
      metrics: { iou: 'high', '1bad': 1 },
      pixels: [1, 2, 3],
    });
    expect(p).toEqual([
      'taskId must be an id (UUID)',
      expect.stringMatching(/^stage must be one of queued, /),
      'loss must be a finite number',
      'metrics.iou must be a number',
      expect.stringMatching(/^metrics\.1bad: name must be an identifier/),
      'unknown field "pixels"',
      'epoch must not exceed epochs',
    ]);
  });

  it('refuses non-objects, non-integer counts and too many metrics', () => {
    expect(trainingProgressProblems(null)).toEqual(['progress must be an object']);
    expect(trainingProgressProblems([1])).toEqual(['progress must be an object']);
    expect(trainingProgressProblems({ taskId, stage: 'done', epoch: 1.5, epochs: -1 })).toEqual([
      'epoch must be an integer in 0..1000000',
      'epochs must be an integer in 0..1000000',
    ]);
    const metrics = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${i}`, i]));
    expect(trainingProgressProblems({ taskId, stage: 'done', epoch: 1, epochs: 1, metrics })).toEqual([
      'metrics has 40 entries, over the limit of 32',
    ]);
  });
});
