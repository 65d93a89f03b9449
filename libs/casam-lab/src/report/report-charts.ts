/**
 * Charts for benchmark reports, drawn by Apache ECharts' SVG renderer in its server-side mode (no DOM, no
 * canvas): a labelled heatmap, a line chart with a legend and a set of horizontal bar panels. Each returns an
 * SVG document; svgToPng (svg-png.ts) rasterises it where a report links a PNG.
 */
import * as echarts from 'echarts';

export class ChartInputError extends Error {
  override name = 'ChartInputError';
}

/** Distinct, colour-blind-friendly series colours (Okabe–Ito), then greys. */
export const SERIES_COLORS: readonly string[] = [
  '#0072b2',
  '#d55e00',
  '#009e73',
  '#cc79a7',
  '#e69f00',
  '#56b4e9',
  '#787878',
  '#000000',
];

/** The heatmap's colour scale, dark purple to yellow (viridis). */
export const VIRIDIS: readonly string[] = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];

const FONT = 'DejaVu Sans, sans-serif';
const GREY = '#6e7079';
/** About how wide `text` is at 12 px in the report font: enough to size cells and margins. */
const textWidth = (text: string, px = 12) => Math.ceil(text.length * px * 0.62);

/** Renders `option` once, as an SVG document of `width` × `height`. */
function render(width: number, height: number, option: echarts.EChartsOption): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      textStyle: { fontFamily: FONT },
      ...option,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const titles = (title: string, subtitle?: string): echarts.EChartsOption['title'] => ({
  text: title,
  subtext: subtitle ?? '',
  left: 12,
  top: 8,
  textStyle: { fontSize: 16, fontFamily: FONT },
  subtextStyle: { fontSize: 12, color: GREY, fontFamily: FONT },
});

export interface HeatmapOptions {
  title: string;
  /** A line under the title (e.g. what the numbers are). */
  subtitle?: string;
  rowLabels: readonly string[];
  colLabels: readonly string[];
  /** values[row][col]; null cells are drawn empty. */
  values: readonly (readonly (number | null)[])[];
  /** Colour range (default 0..1). */
  min?: number;
  max?: number;
  /** Cell text (default two decimals). */
  format?: (v: number) => string;
}

export function heatmapChart(o: HeatmapOptions): string {
  if (o.values.length !== o.rowLabels.length)
    throw new ChartInputError(`${o.values.length} rows for ${o.rowLabels.length} row labels`);
  for (const row of o.values)
    if (row.length !== o.colLabels.length)
      throw new ChartInputError(`a row has ${row.length} values for ${o.colLabels.length} columns`);
  const min = o.min ?? 0;
  const max = o.max ?? 1;
  const fmt = o.format ?? ((v: number) => v.toFixed(2));
  const cellW = Math.max(48, ...o.colLabels.map((l) => textWidth(l) + 10));
  const cellH = 26;
  const left = 12 + Math.max(0, ...o.rowLabels.map((l) => textWidth(l))) + 12;
  const top = o.subtitle ? 84 : 64;
  const width = Math.max(left + cellW * o.colLabels.length + 16, textWidth(o.subtitle ?? '') + 24);
  const height = top + cellH * o.rowLabels.length + 64;
  const data = o.values.flatMap((row, i) =>
    row.flatMap((v, j) => (v === null || !Number.isFinite(v) ? [] : [[j, i, v]])),
  );
  return render(width, height, {
    title: titles(o.title, o.subtitle),
    grid: {
      left,
      top,
      width: cellW * o.colLabels.length,
      height: cellH * o.rowLabels.length,
      show: true,
      backgroundColor: '#f5f5f5', // empty cells
      borderColor: GREY,
    },
    xAxis: {
      type: 'category',
      position: 'top',
      data: [...o.colLabels],
      axisTick: { show: false },
      axisLine: { show: false },
      axisLabel: { color: '#000', fontSize: 11 },
    },
    yAxis: {
      type: 'category',
      inverse: true,
      data: [...o.rowLabels],
      axisTick: { show: false },
      axisLine: { show: false },
      axisLabel: { color: '#000', fontSize: 11 },
    },
    visualMap: {
      type: 'continuous',
      min,
      max,
      orient: 'horizontal',
      left,
      bottom: 8,
      itemWidth: 10,
      itemHeight: Math.min(200, cellW * o.colLabels.length),
      calculable: false,
      text: [fmt(max), fmt(min)],
      textStyle: { fontSize: 11 },
      inRange: { color: [...VIRIDIS] },
    },
    series: [
      {
        type: 'heatmap',
        data,
        label: {
          show: true,
          fontSize: 11,
          formatter: (p) => fmt((p.value as number[])[2]!),
        },
        itemStyle: { borderColor: '#ffffff', borderWidth: 1 },
      },
    ],
  });
}

export interface LineSeries {
  name: string;
  /** One value per x tick; null leaves a gap. */
  values: readonly (number | null)[];
  /** A CSS colour; default SERIES_COLORS in order. */
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xTicks: readonly string[];
  xLabel?: string;
  yLabel?: string;
  series: readonly LineSeries[];
  /** Default: the data's range, rounded out to ECharts' ticks. */
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
}

export function lineChart(o: LineChartOptions): string {
  if (o.xTicks.length === 0) throw new ChartInputError('a line chart needs x ticks');
  for (const s of o.series)
    if (s.values.length !== o.xTicks.length)
      throw new ChartInputError(
        `series ${s.name} has ${s.values.length} values for ${o.xTicks.length} ticks`,
      );
  const width = o.width ?? 760;
  const legendW = Math.max(0, ...o.series.map((s) => textWidth(s.name))) + 48;
  const height = Math.max(o.height ?? 420, 120 + o.series.length * 20);
  return render(width, height, {
    title: titles(o.title, o.subtitle),
    color: [...SERIES_COLORS],
    legend: {
      orient: 'vertical',
      right: 12,
      top: o.subtitle ? 84 : 64,
      itemWidth: 24,
      textStyle: { fontSize: 12 },
      data: o.series.map((s) => s.name),
    },
    grid: { left: 56, right: legendW, top: o.subtitle ? 96 : 76, bottom: o.xLabel ? 56 : 36 },
    xAxis: {
      type: 'category',
      data: [...o.xTicks],
      boundaryGap: o.xTicks.length === 1,
      name: o.xLabel ?? '',
      nameLocation: 'middle',
      nameGap: 28,
      nameTextStyle: { color: GREY },
    },
    yAxis: {
      type: 'value',
      scale: true,
      min: o.yMin,
      max: o.yMax,
      name: o.yLabel ?? '',
      nameTextStyle: { color: GREY, align: 'left' },
    },
    series: o.series.map((s, k) => ({
      type: 'line' as const,
      name: s.name,
      data: s.values.map((v) => (v === null || !Number.isFinite(v) ? null : v)),
      connectNulls: false,
      symbol: 'circle',
      symbolSize: 6,
      showAllSymbol: true,
      color: s.color ?? SERIES_COLORS[k % SERIES_COLORS.length],
      lineStyle: { width: 2, type: s.dashed ? ('dashed' as const) : ('solid' as const) },
    })),
  });
}

export interface BarPanel {
  title: string;
  values: readonly (number | null)[];
  format?: (v: number) => string;
}

export interface BarPanelsOptions {
  title: string;
  subtitle?: string;
  categories: readonly string[];
  panels: readonly BarPanel[];
  /** CSS colours, one per category in turn; default SERIES_COLORS. */
  colors?: readonly string[];
  panelWidth?: number;
}

/** Side-by-side panels of horizontal bars, one bar per category, each panel on its own scale (from 0). */
export function barPanelsChart(o: BarPanelsOptions): string {
  for (const p of o.panels)
    if (p.values.length !== o.categories.length)
      throw new ChartInputError(
        `panel ${p.title} has ${p.values.length} values for ${o.categories.length} categories`,
      );
  const colors = o.colors ?? SERIES_COLORS;
  const labelW = Math.max(0, ...o.categories.map((l) => textWidth(l))) + 20;
  const panelW = o.panelWidth ?? 230;
  const gap = 36;
  const barRow = 26;
  const top = o.subtitle ? 104 : 84;
  const plotH = o.categories.length * barRow;
  const width = Math.max(
    12 + labelW + o.panels.length * (panelW + gap) + 12,
    textWidth(o.subtitle ?? '') + 24,
  );
  const height = top + plotH + 16;
  const at = (k: number) => 12 + labelW + k * (panelW + gap);
  return render(width, height, {
    title: [
      titles(o.title, o.subtitle) as object,
      ...o.panels.map((p, k) => ({
        text: p.title,
        left: at(k),
        top: top - 24,
        textStyle: { fontSize: 12, fontWeight: 'normal' as const, fontFamily: FONT },
      })),
    ],
    grid: o.panels.map((_, k) => ({ left: at(k), top, width: panelW, height: plotH })),
    // Each panel's scale leaves room right of its longest bar for that bar's value.
    xAxis: o.panels.map((p, k) => {
      const fmt = p.format ?? ((v: number) => v.toPrecision(3));
      const finite = p.values.filter((v): v is number => v !== null && Number.isFinite(v));
      const valueW = Math.max(0, ...finite.map((v) => textWidth(fmt(v), 11))) + 10;
      const top = Math.max(0, ...finite) || 1;
      return {
        type: 'value' as const,
        gridIndex: k,
        min: 0,
        max: (top * panelW) / Math.max(1, panelW - valueW),
        show: false,
      };
    }),
    yAxis: o.panels.map((_, k) => ({
      type: 'category' as const,
      gridIndex: k,
      inverse: true,
      data: [...o.categories],
      axisTick: { show: false },
      axisLabel: { show: k === 0, color: '#000', fontSize: 11 },
    })),
    series: o.panels.map((p, k) => {
      const fmt = p.format ?? ((v: number) => v.toPrecision(3));
      return {
        type: 'bar' as const,
        xAxisIndex: k,
        yAxisIndex: k,
        barWidth: 16,
        data: p.values.map((v, i) =>
          v === null || !Number.isFinite(v)
            ? { value: 0, itemStyle: { color: 'transparent' }, label: { formatter: 'n/a', color: GREY } }
            : {
                value: Math.max(0, v),
                itemStyle: { color: colors[i % colors.length] },
                label: { formatter: fmt(v) },
              },
        ),
        label: { show: true, position: 'right' as const, fontSize: 11 },
      };
    }),
  });
}
