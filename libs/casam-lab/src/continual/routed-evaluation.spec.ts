import { describe, expect, it } from 'vitest';
import { RoutableImage, RoutedEvaluationError, evaluateRouted, routeAmong } from './routed-evaluation';

/** Task a's layer scores 0.9 on a's images, task b's 0.8 on b's; every other combination 0.1; frozen 0.5. */
function image(id: string, trueTask: string | null, scoreA: number, scoreB: number): RoutableImage {
  const good = (t: string): number => (trueTask === t ? (t === 'a' ? 0.9 : 0.8) : 0.1);
  return {
    id,
    trueTask,
    scores: [
      { taskId: 'a', score: scoreA, tau: 1 },
      { taskId: 'b', score: scoreB, tau: 1 },
    ],
    regions: {
      a: [{ iou: good('a'), dice: good('a') }],
      b: [{ iou: good('b'), dice: good('b') }],
      frozen: [{ iou: 0.5, dice: 0.5 }],
    },
  };
}

describe('routed evaluation over precomputed scores', () => {
  const imgs = [
    image('a1', 'a', 0.2, 3), // → a
    image('a2', 'a', 2, 0.5), // → b (misrouted)
    image('b1', 'b', 5, 0.3), // → b
    image('u1', null, 4, 6), // best a, 4 > τ → frozen
  ];

  it('routes among the active tasks only, falling back above τ', () => {
    expect(routeAmong(imgs[1].scores, new Set(['a']))).toMatchObject({ kind: 'fallback' }); // 2 > τ 1
    expect(routeAmong(imgs[1].scores, new Set(['a', 'b']))).toMatchObject({ kind: 'task', taskId: 'b' });
  });

  it('scores each image under the chosen layer, with routing accuracy and fallback rate', () => {
    const r = evaluateRouted(imgs, ['a', 'b']);
    expect(r.chosen).toEqual(['a', 'b', 'b', null]);
    // a1 0.9, a2 0.1 (b's layer on an a image), b1 0.8, u1 0.5 (frozen)
    expect(r.aggregate.iou).toBeCloseTo((0.9 + 0.1 + 0.8 + 0.5) / 4, 12);
    expect(r.routingAccuracy).toBeCloseTo(2 / 3, 12); // the unseen image does not count
    expect(r.fallbackRate).toBe(0.25);
  });

  it('with one task known, images of an unknown task count neither way in the accuracy', () => {
    const r = evaluateRouted(imgs.slice(0, 3), ['a']);
    expect(r.chosen).toEqual(['a', null, null]);
    expect(r.routingAccuracy).toBe(0.5);
  });

  it('refuses images without a score or without region scores for the chosen layer', () => {
    expect(() => evaluateRouted([], ['a'])).toThrow(RoutedEvaluationError);
    expect(() => evaluateRouted(imgs, ['a', 'c'])).toThrow(/no score for task c/);
    const broken = { ...imgs[0], regions: { frozen: imgs[0].regions['frozen'] } };
    expect(() => evaluateRouted([broken], ['a'])).toThrow(/no scores under a/);
  });
});
