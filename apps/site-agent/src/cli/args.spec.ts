import { describe, expect, it } from 'vitest';
import { parseBox, parsePoint, promptProblem } from './args';

describe('prompt arguments', () => {
  it('parses boxes and points', () => {
    expect(parseBox('1,2.5,30,40')).toEqual([1, 2.5, 30, 40]);
    expect(parsePoint('5,6')).toEqual({ xy: [5, 6], label: 1 });
    expect(parsePoint('5,6,0')).toEqual({ xy: [5, 6], label: 0 });
  });
  it('rejects malformed values with a message naming the flag', () => {
    expect(() => parseBox('1,2,3')).toThrow(/--box expects x0,y0,x1,y1/);
    expect(() => parseBox('1,2,3,x')).toThrow(/--box/);
    expect(() => parsePoint('1')).toThrow(/--point expects/);
    expect(() => parsePoint('1,2,7')).toThrow(/label must be 0 or 1/);
  });
  it('takes box corners as inclusive pixel indices, as the trainer computes the tight box of a mask', () => {
    expect(promptProblem({ box: [106, 89, 106, 104] }, 200, 120)).toBeNull(); // one pixel wide
    expect(promptProblem({ box: [5, 5, 5, 5] }, 10, 10)).toBeNull(); // one pixel
    expect(promptProblem({ box: [0, 0, 199, 119] }, 200, 120)).toBeNull(); // the whole image
    expect(promptProblem({ box: [0, 0, 200, 120] }, 200, 120)).toMatch(
      /outside the 200×120 image: corners are inclusive pixel indices, x in 0\.\.199, y in 0\.\.119/,
    );
    expect(promptProblem({ box: [10, 5, 9, 8] }, 200, 120)).toMatch(/x0 ≤ x1 and y0 ≤ y1/);
    expect(promptProblem({ points: [[199, 119]] }, 200, 120)).toBeNull();
    expect(promptProblem({ points: [[200, 3]] }, 200, 120)).toMatch(/point \(200, 3\) is outside/);
  });
});
