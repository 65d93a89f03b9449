import { describe, expect, it } from 'vitest';
import { decodeImage } from '@casam/casam-core';
import { ChartInputError, VIRIDIS, barPanelsChart, heatmapChart, lineChart } from './report-charts';
import { svgToPng } from './svg-png';

const texts = (svg: string) => [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('report charts (ECharts SVG)', () => {
  it('draws a heatmap with a cell and a label per value, empty cells left out, and the colour key', () => {
    const svg = heatmapChart({
      title: 'matrix',
      subtitle: 'what the numbers are',
      rowLabels: ['1', '2'],
      colLabels: ['a', 'b'],
      values: [
        [0, null],
        [1, 0.5],
      ],
    });
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(texts(svg)).toEqual(
      expect.arrayContaining(['matrix', 'what the numbers are', 'a', 'b', '1', '2', '0.00', '0.50', '1.00']),
    );
    // The colours of 0 and 1 are the ends of the scale.
    for (const end of [VIRIDIS[0]!, VIRIDIS.at(-1)!]) {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(end.slice(i, i + 2), 16));
      expect(svg).toContain(`rgb(${r},${g},${b})`);
    }
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

  it('draws line charts with gaps and a legend, and bar panels with missing values as n/a', () => {
    const l = lineChart({
      title: 'Avg-IoU',
      xTicks: ['1', '2', '3'],
      xLabel: 'stage',
      series: [
        { name: 'x', values: [0.2, null, 0.4] },
        { name: 'y', values: [0.5, 0.5, 0.5], dashed: true },
      ],
    });
    expect(l).toMatch(/^<svg width="760" height="420"/);
    expect(texts(l)).toEqual(expect.arrayContaining(['Avg-IoU', 'stage', 'x', 'y', '1', '2', '3']));
    expect(l).toContain('stroke-dasharray');
    const b = barPanelsChart({
      title: 'cost',
      categories: ['a', 'b'],
      panels: [{ title: 'p', values: [1, null], format: (v) => v.toFixed(1) }],
    });
    expect(texts(b)).toEqual(expect.arrayContaining(['cost', 'p', 'a', 'b', '1.0', 'n/a']));
  });

  it('rasterises to a PNG of the SVG size, with text drawn', () => {
    const svg = lineChart({
      title: 'Avg-IoU',
      xTicks: ['1', '2'],
      series: [{ name: 'x', values: [0.2, 0.4] }],
    });
    const img = decodeImage(svgToPng(svg));
    expect([img.width, img.height]).toEqual([760, 420]);
    // The title's glyphs put dark pixels in its row, left of the plot (a missing font would leave it white).
    let dark = 0;
    for (let y = 8; y < 30; y++)
      for (let x = 12; x < 150; x++) {
        const i = 3 * (y * img.width + x);
        if (img.data[i]! < 128) dark++;
      }
    expect(dark).toBeGreaterThan(50);
  });
});
