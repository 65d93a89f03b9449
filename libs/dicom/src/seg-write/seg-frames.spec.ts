import { describe, expect, it } from 'vitest';
import { planSegFrames } from './seg-frames';
import { ctSlices, flatImage, segInput } from './seg-input.testing';

describe('planSegFrames', () => {
  it('orders frames by segment, then bottom-up along the slice normal, indexing positions from 1', () => {
    // ctSlices lists the top slice first: source 0 at z = 5, source 2 at z = 0.
    const plan = planSegFrames(segInput(ctSlices(3)));
    expect(plan.geometry).toBe('patient');
    expect(plan.frames.map((f) => [f.segmentNumber, f.sourceIndex, ...f.dimensionIndexValues])).toEqual([
      [1, 2, 1, 1],
      [1, 1, 1, 2],
      [1, 0, 1, 3],
      [2, 2, 2, 1],
      [2, 1, 2, 2],
      [2, 0, 2, 3],
    ]);
  });

  it('sorts along the normal of an oblique orientation, not along z', () => {
    // Sagittal slices (rows along y, columns along -z): the normal is -x... positions differ only in x.
    const sources = ctSlices(3).map((s, i) => ({
      ...s,
      imageOrientationPatient: [0, 1, 0, 0, 0, -1],
      imagePositionPatient: [10 * i, 0, 0],
    }));
    const plan = planSegFrames(segInput(sources));
    // Normal = (0,1,0) × (0,0,-1) = (-1, 0, 0): the largest x comes first.
    expect(plan.frames.filter((f) => f.segmentNumber === 1).map((f) => f.sourceIndex)).toEqual([2, 1, 0]);
  });

  it('leaves out empty masks by default and keeps them when asked', () => {
    const input = segInput(ctSlices(2), ['1:0', '2:1']);
    expect(planSegFrames(input).frames.map((f) => [f.segmentNumber, f.sourceIndex])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect(planSegFrames({ ...input, omitEmptyFrames: false }).frames).toHaveLength(4);
  });

  it('uses the stack position for sources without patient geometry', () => {
    const plan = planSegFrames(segInput([flatImage()]));
    expect(plan.geometry).toBe('stack');
    expect(plan.frames.map((f) => f.dimensionIndexValues)).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('measures the smallest gap between slices, and none for a single slice', () => {
    expect(planSegFrames(segInput(ctSlices(3))).sliceGap).toBeCloseTo(2.5, 9);
    expect(planSegFrames(segInput(ctSlices(1))).sliceGap).toBeUndefined();
  });
});
