import { describe, expect, it } from 'vitest';
import { connectedComponents, countRegions, defaultMinRegionPixels, splitRegions } from './regions';

/** A W×H mask from rows of '.' and '#'. */
function mask(rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0));
}

describe('regions', () => {
  const rows = [
    '##....#', //
    '##....#',
    '.......',
    '...#...',
    '....#..', // diagonal neighbour: same 8-connected component
    '.......',
  ];
  const W = 7;
  const H = 6;

  it('finds 8-connected components in raster order with their sizes', () => {
    const cs = connectedComponents(mask(rows), W, H);
    expect(cs.map((c) => c.pixels)).toEqual([4, 2, 2]);
    expect([...cs[2].mask].flatMap((v, i) => (v ? [i] : []))).toEqual([3 * W + 3, 4 * W + 4]);
    expect(() => connectedComponents(new Uint8Array(5), W, H)).toThrow(/5 values, expected 7×6/);
  });

  it('splits every class mask into its components, drops specks, keeps the class', () => {
    const masks = [
      { classId: 'gland', mask: mask(rows) },
      { classId: 'empty', mask: new Uint8Array(W * H) },
    ];
    const r = splitRegions(masks, W, H, { minPixels: 2 });
    expect(r.map((x) => x.classId)).toEqual(['gland', 'gland', 'gland']);
    expect(splitRegions(masks, W, H, { minPixels: 3 })).toHaveLength(1);
    expect(countRegions(masks, W, H, { minPixels: 2 })).toBe(3);
    // Whole classes on request: one region per non-empty mask, the mask itself.
    const whole = splitRegions(masks, W, H, { split: 'classes' });
    expect(whole).toHaveLength(1);
    expect(whole[0].mask).toBe(masks[0].mask);
    expect(masks[0].mask).toEqual(mask(rows)); // untouched
  });

  it('scales the default speck size with the image', () => {
    expect(defaultMinRegionPixels(256, 256)).toBe(16);
    expect(defaultMinRegionPixels(1024, 1024)).toBe(256);
  });
});
