import { CustomChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';

// Only the parts the admin UI draws, so the bundle carries no more of ECharts than it uses.
echarts.use([LineChart, CustomChart, GridComponent, LegendComponent, SVGRenderer]);

const COLORS = ['#0b5cad', '#1a7f37', '#9a6700', '#8250df', '#b42318', '#0a7d8c'];
const MUTED = '#57606a';

export interface ChartPoint {
  /** Adapter version. */
  x: number;
  /** Missing or non-finite values are left out. */
  y: number | undefined;
}
export interface ChartSeries {
  name: string;
  points: readonly ChartPoint[];
}
export interface LineChartSpec {
  series: readonly ChartSeries[];
  width?: number;
  height?: number;
  yLabel?: string;
}

/**
 * An SVG element as ZRender (ECharts' renderer) describes it before writing any markup: the SVG painter's own
 * virtual node, which its `renderToString` serialises. Text stays text here; attribute values are ZRender's.
 */
export interface SvgNode {
  tag: string;
  attrs: Record<string, string | number | boolean | null | undefined>;
  children?: SvgNode[];
  text?: string;
}
interface SvgPainter {
  renderToVNode(opts: {
    animation: boolean;
    emphasis: boolean;
    willUpdate: boolean;
    compress: boolean;
    useViewBox: boolean;
  }): SvgNode;
}

/** One drawn point, for its hover title: ECharts marks each in the SVG with its series and data index. */
export interface PlottedPoint {
  series: string;
  x: number;
  y: number;
}

/**
 * A line chart over adapter versions, drawn by ECharts' SVG renderer in server-side mode (no DOM): one line
 * per series, each value a `<circle>` (a custom series, so that points are real SVG circles the page can give
 * a title), versions on a category axis as `v1`, `v2`…, the legend on the right. Returns the SVG as ZRender's
 * node tree (static: no CSS animation or hover styles, which the page's CSP would refuse) and the points in
 * ECharts' series/data order; `null` when no series has a value.
 */
export function lineChartSvg(spec: LineChartSpec): { root: SvgNode; points: PlottedPoint[][] } | null {
  const width = spec.width ?? 520;
  const height = spec.height ?? 200;
  const plotted = spec.series.map((s) => ({
    name: s.name,
    points: s.points
      .filter((p): p is { x: number; y: number } => typeof p.y === 'number' && Number.isFinite(p.y))
      .sort((a, b) => a.x - b.x),
  }));
  if (plotted.every((s) => s.points.length === 0)) return null;
  const versions = [...new Set(plotted.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const at = (x: number) => versions.indexOf(x);
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      color: COLORS,
      grid: { left: 48, right: 110, top: 24, bottom: 32 },
      legend: {
        orient: 'vertical',
        right: 4,
        top: 16,
        icon: 'circle',
        itemWidth: 10,
        textStyle: { fontSize: 12 },
      },
      xAxis: {
        type: 'category',
        data: versions.map((v) => `v${v}`),
        boundaryGap: versions.length === 1,
        axisLine: { lineStyle: { color: '#8c959f' } },
      },
      yAxis: {
        type: 'value',
        name: spec.yLabel ?? '',
        nameTextStyle: { align: 'left', color: MUTED },
        axisLabel: { formatter: (v: number) => v.toFixed(2) },
        splitNumber: 2,
      },
      series: plotted.flatMap((s, i) => [
        {
          type: 'line' as const,
          name: s.name,
          showSymbol: false,
          lineStyle: { width: 2 },
          data: s.points.map((p) => [at(p.x), p.y]),
        },
        {
          type: 'custom' as const,
          name: s.name,
          data: s.points.map((p) => [at(p.x), p.y]),
          renderItem: (
            _params: unknown,
            api: { value(dim: number): number; coord(v: number[]): number[] },
          ) => {
            const [cx, cy] = api.coord([api.value(0), api.value(1)]);
            return { type: 'circle', shape: { cx, cy, r: 3.5 }, style: { fill: COLORS[i % COLORS.length] } };
          },
        },
      ]),
    });
    const painter = chart.getZr().painter as unknown as SvgPainter;
    return {
      root: painter.renderToVNode({
        animation: false,
        emphasis: false,
        willUpdate: false,
        compress: true,
        useViewBox: true,
      }),
      // ECharts' series are [line, points] per input series: points of series k are at index 2k + 1.
      points: plotted.flatMap((s) => [[], s.points.map((p) => ({ series: s.name, x: p.x, y: p.y }))]),
    };
  } finally {
    chart.dispose();
  }
}
