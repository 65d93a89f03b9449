import { describe, expect, it } from 'vitest';
import { parseBox, parsePoint } from './args';

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
});
