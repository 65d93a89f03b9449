import { describe, expect, it } from 'vitest';
import { lineChartSvg, type SvgNode } from './chart-svg';

const all = (n: SvgNode): SvgNode[] => [n, ...(n.children ?? []).flatMap(all)];
const texts = (n: SvgNode) => all(n).flatMap((c) => (c.text ? [c.text] : []));

describe('lineChartSvg (ECharts, server-side SVG nodes)', () => {
  const series = [
    {
      name: 'iou',
      points: [
        { x: 2, y: 0.75 },
        { x: 1, y: 0.71 },
      ],
    },
    {
      name: 'dice',
      points: [
        { x: 1, y: 0.8 },
        { x: 2, y: undefined },
      ],
    },
  ];

  it('draws every finite value as a circle, tagged with its series and data index', () => {
    const chart = lineChartSvg({ series, yLabel: 'metric' })!;
    const circles = all(chart.root).filter((n) => n.tag === 'circle');
    expect(circles).toHaveLength(3);
    const drawn = circles.map(
      (c) => chart.points[Number(c.attrs['ecmeta_series_index'])]![Number(c.attrs['ecmeta_data_index'])],
    );
    expect(drawn).toEqual(
      expect.arrayContaining([
        { series: 'iou', x: 1, y: 0.71 },
        { series: 'iou', x: 2, y: 0.75 },
        { series: 'dice', x: 1, y: 0.8 },
      ]),
    );
  });

  it('labels versions, the y axis and the legend, in a 520×200 svg', () => {
    const { root } = lineChartSvg({ series, yLabel: 'VAE score' })!;
    expect(root.tag).toBe('svg');
    expect(root.attrs).toMatchObject({ width: 520, height: 200 });
    expect(texts(root)).toEqual(expect.arrayContaining(['v1', 'v2', 'VAE score', 'iou', 'dice', '0.00']));
    expect(JSON.stringify(root)).not.toContain('NaN');
  });

  it('is static: no style sheet (the CSP refuses inline styles) and no animation', () => {
    const tags = new Set(all(lineChartSvg({ series })!.root).map((n) => n.tag));
    expect([...tags].filter((t) => t === 'style' || t.startsWith('animate'))).toEqual([]);
  });

  it('is null when no series has a value', () => {
    expect(lineChartSvg({ series: [{ name: 'iou', points: [{ x: 1, y: Number.NaN }] }] })).toBeNull();
    expect(lineChartSvg({ series: [] })).toBeNull();
  });
});
