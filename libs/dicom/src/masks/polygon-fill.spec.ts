import { describe, expect, it } from 'vitest';
import { fillPolygons } from './polygon-fill';

const square = (c0: number, r0: number, c1: number, r1: number) => [
  { col: c0, row: r0 },
  { col: c1, row: r0 },
  { col: c1, row: r1 },
  { col: c0, row: r1 },
];

const rowsOf = (mask: Uint8Array, cols: number) =>
  Array.from({ length: mask.length / cols }, (_, r) =>
    Array.from(mask.subarray(r * cols, (r + 1) * cols)).join(''),
  );

describe('fillPolygons (even-odd, pixel centres)', () => {
  it('fills exactly the pixels whose centres are inside', () => {
    expect(rowsOf(fillPolygons([square(1.5, 1.5, 4.5, 3.5)], 5, 6), 6)).toEqual([
      '000000',
      '000000',
      '001110',
      '001110',
      '000000',
    ]);
  });

  it('makes an inner contour a hole, and clips to the image', () => {
    const mask = fillPolygons([square(-2.5, 0.5, 4.5, 4.5), square(0.5, 1.5, 2.5, 2.5)], 5, 5);
    expect(rowsOf(mask, 5)).toEqual(['00000', '11111', '10011', '11111', '11111']);
  });

  it('fills a triangle with a vertex on a scanline without double counting', () => {
    const triangle = [
      { col: 0, row: 0 },
      { col: 4, row: 4 },
      { col: 0, row: 4 },
    ];
    expect(rowsOf(fillPolygons([triangle], 5, 5), 5)).toEqual(['00000', '10000', '11000', '11100', '00000']);
  });
});
