import { describe, expect, it } from 'vitest';
import { decodeImage, encodeRgbPng } from '@casam/casam-core';
import { GLYPH_ADVANCE, glyph, textWidth } from './bitmap-font';
import { BLACK, createCanvas, drawLine, drawText, fillRect } from './raster-canvas';
import { ChartInputError, barPanelsChart, colorScale, heatmapChart, lineChart } from './raster-charts';

function pixel(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = 3 * (y * img.width + x);
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

describe('bitmap font and canvas', () => {
  it('has 5×7 glyphs, look-alikes for common non-ASCII signs and ? for the rest', () => {
    expect(glyph('1')).toHaveLength(35);
    expect(glyph('−')).toEqual(glyph('-'));
    expect(glyph('€')).toEqual(glyph('?'));
    expect(textWidth('abc')).toBe(3 * GLYPH_ADVANCE - 1);
    expect(textWidth('ab', 2)).toBe(2 * (2 * GLYPH_ADVANCE - 1));
    expect(textWidth('')).toBe(0);
  });

  it('draws text, rectangles and lines inside the canvas only', () => {
    const c = createCanvas(20, 10);
    drawText(c, 0, 0, '-'); // row 3 of '-' is 11111
    expect(pixel(c, 0, 3)).toEqual([0, 0, 0]);
    expect(pixel(c, 0, 2)).toEqual([255, 255, 255]);
    fillRect(c, 15, 5, 100, 100, [255, 0, 0]);
    expect(pixel(c, 19, 9)).toEqual([255, 0, 0]);
    drawLine(c, 0, 9, 10, 9, BLACK);
    expect(pixel(c, 5, 9)).toEqual([0, 0, 0]);
  });
});

describe('raster charts', () => {
  it('maps the colour scale from dark purple to yellow', () => {
    expect(colorScale(0)).toEqual([68, 1, 84]);
    expect(colorScale(1)).toEqual([253, 231, 37]);
    expect(colorScale(2)).toEqual(colorScale(1));
  });

  it('draws a heatmap whose cells carry the colour of their value, and encodes as PNG', () => {
    const img = heatmapChart({
      title: 'matrix',
      rowLabels: ['1', '2'],
      colLabels: ['a', 'b'],
      values: [
        [0, null],
        [1, 0.5],
      ],
    });
    const png = encodeRgbPng(img);
    const back = decodeImage(png);
    expect([back.width, back.height]).toEqual([img.width, img.height]);
    // Some pixel carries the colour of 0 and of 1.
    const colours = new Set<string>();
    for (let i = 0; i < img.width * img.height; i++)
      colours.add(Array.from(img.data.subarray(3 * i, 3 * i + 3)).join());
    expect(colours.has(colorScale(0).join())).toBe(true);
    expect(colours.has(colorScale(1).join())).toBe(true);
  });

  it('checks its inputs', () => {
    expect(() => heatmapChart({ title: 't', rowLabels: ['1'], colLabels: ['a'], values: [] })).toThrow(
      ChartInputError,
    );
    expect(() => lineChart({ title: 't', xTicks: ['1', '2'], series: [{ name: 's', values: [1] }] })).toThrow(
      /1 values for 2 ticks/,
    );
    expect(() =>
      barPanelsChart({ title: 't', categories: ['a'], panels: [{ title: 'p', values: [] }] }),
    ).toThrow(ChartInputError);
  });

  it('draws line charts with gaps and bar panels with missing values', () => {
    const l = lineChart({
      title: 'Avg-IoU',
      xTicks: ['1', '2', '3'],
      series: [
        { name: 'x', values: [0.2, null, 0.4] },
        { name: 'y', values: [0.5, 0.5, 0.5], dashed: true },
      ],
    });
    expect(l.width).toBe(760);
    const b = barPanelsChart({
      title: 'cost',
      categories: ['a', 'b'],
      panels: [{ title: 'p', values: [1, null] }],
    });
    expect(b.height).toBeGreaterThan(40);
  });
});
