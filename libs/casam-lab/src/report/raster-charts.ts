/**
 * Raster charts for benchmark reports, drawn pixel by pixel (no chart library): a labelled heatmap, a line
 * chart with a legend and a set of horizontal bar panels. Each returns an RgbImage; encodeRgbPng writes it.
 */
import { type RgbImage } from '@casam/casam-core';
import { textWidth } from './bitmap-font';
import {
  BLACK,
  GREY,
  LIGHT_GREY,
  Rgb,
  createCanvas,
  drawLine,
  drawText,
  fillCircle,
  fillRect,
  strokeRect,
} from './raster-canvas';

export class ChartInputError extends Error {
  override name = 'ChartInputError';
}

/** Distinct, colour-blind-friendly series colours (Okabe–Ito), then greys. */
export const SERIES_COLORS: readonly Rgb[] = [
  [0, 114, 178],
  [213, 94, 0],
  [0, 158, 115],
  [204, 121, 167],
  [230, 159, 0],
  [86, 180, 233],
  [120, 120, 120],
  [0, 0, 0],
];

const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Viridis-like colour of t ∈ [0, 1]. */
export function colorScale(t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)) as unknown as Rgb;
}

function luminance(c: Rgb): number {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

const PAD = 12;
const LINE = 11; // text row height at scale 1, with spacing

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

export function heatmapChart(o: HeatmapOptions): RgbImage {
  if (o.values.length !== o.rowLabels.length)
    throw new ChartInputError(`${o.values.length} rows for ${o.rowLabels.length} row labels`);
  for (const row of o.values)
    if (row.length !== o.colLabels.length)
      throw new ChartInputError(`a row has ${row.length} values for ${o.colLabels.length} columns`);
  const min = o.min ?? 0;
  const max = o.max ?? 1;
  const fmt = o.format ?? ((v: number) => v.toFixed(2));
  const cellW = Math.max(40, ...o.colLabels.map((l) => textWidth(l) + 8));
  const cellH = 22;
  const labelW = Math.max(0, ...o.rowLabels.map((l) => textWidth(l))) + 10;
  const top = PAD + 2 * LINE + (o.subtitle ? LINE : 0) + LINE + 4;
  const left = PAD + labelW;
  const width = left + cellW * o.colLabels.length + PAD;
  const height = top + cellH * o.rowLabels.length + PAD + LINE * 2;
  const c = createCanvas(width, height);
  drawText(c, PAD, PAD, o.title, BLACK, 2);
  if (o.subtitle) drawText(c, PAD, PAD + 2 * LINE + 2, o.subtitle, GREY);
  o.colLabels.forEach((l, j) =>
    drawText(c, left + j * cellW + cellW / 2, top - LINE - 2, l, BLACK, 1, 'center'),
  );
  o.rowLabels.forEach((l, i) => {
    drawText(c, left - 6, top + i * cellH + (cellH - 7) / 2, l, BLACK, 1, 'right');
    o.values[i].forEach((v, j) => {
      const x = left + j * cellW;
      const y = top + i * cellH;
      if (v === null || !Number.isFinite(v)) {
        fillRect(c, x, y, cellW, cellH, [245, 245, 245]);
        return;
      }
      const col = colorScale((v - min) / (max - min || 1));
      fillRect(c, x, y, cellW, cellH, col);
      drawText(
        c,
        x + cellW / 2,
        y + (cellH - 7) / 2,
        fmt(v),
        luminance(col) > 140 ? BLACK : [255, 255, 255],
        1,
        'center',
      );
    });
  });
  strokeRect(c, left - 1, top - 1, cellW * o.colLabels.length + 2, cellH * o.rowLabels.length + 2, GREY);
  // Colour key.
  const ky = top + cellH * o.rowLabels.length + 8;
  const kw = Math.min(200, cellW * o.colLabels.length);
  for (let x = 0; x < kw; x++) fillRect(c, left + x, ky, 1, 8, colorScale(x / (kw - 1)));
  drawText(c, left, ky + 11, fmt(min));
  drawText(c, left + kw, ky + 11, fmt(max), BLACK, 1, 'right');
  return c;
}

export interface LineSeries {
  name: string;
  /** One value per x tick; null leaves a gap. */
  values: readonly (number | null)[];
  color?: Rgb;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xTicks: readonly string[];
  xLabel?: string;
  yLabel?: string;
  series: readonly LineSeries[];
  /** Default: the data's range, padded. */
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
}

function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function lineChart(o: LineChartOptions): RgbImage {
  if (o.xTicks.length === 0) throw new ChartInputError('a line chart needs x ticks');
  for (const s of o.series)
    if (s.values.length !== o.xTicks.length)
      throw new ChartInputError(
        `series ${s.name} has ${s.values.length} values for ${o.xTicks.length} ticks`,
      );
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  let yMin = o.yMin ?? (all.length ? Math.min(...all) : 0);
  let yMax = o.yMax ?? (all.length ? Math.max(...all) : 1);
  if (yMax <= yMin) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const step = niceStep(yMax - yMin, 5);
  if (o.yMin === undefined) yMin = Math.floor(yMin / step) * step;
  if (o.yMax === undefined) yMax = Math.ceil(yMax / step) * step;
  const width = o.width ?? 760;
  const legendW = Math.max(0, ...o.series.map((s) => textWidth(s.name))) + 40;
  const height = Math.max(o.height ?? 420, PAD * 2 + 3 * LINE + o.series.length * 14 + 40);
  const c = createCanvas(width, height);
  drawText(c, PAD, PAD, o.title, BLACK, 2);
  if (o.subtitle) drawText(c, PAD, PAD + 2 * LINE + 2, o.subtitle, GREY);
  const plotTop = PAD + 3 * LINE + (o.subtitle ? LINE : 0) + (o.yLabel ? LINE : 0);
  const plotLeft = PAD + 44;
  const plotRight = width - PAD - legendW;
  const plotBottom = height - PAD - 2 * LINE - (o.xLabel ? LINE : 0);
  const xAt = (i: number): number =>
    o.xTicks.length === 1
      ? (plotLeft + plotRight) / 2
      : plotLeft + ((plotRight - plotLeft) * i) / (o.xTicks.length - 1);
  const yAt = (v: number): number => plotBottom - ((v - yMin) / (yMax - yMin)) * (plotBottom - plotTop);
  for (let v = yMin; v <= yMax + step / 2; v += step) {
    const y = yAt(v);
    drawLine(c, plotLeft, y, plotRight, y, LIGHT_GREY);
    drawText(c, plotLeft - 6, y - 3, Number(v.toFixed(6)).toString(), BLACK, 1, 'right');
  }
  o.xTicks.forEach((t, i) => {
    drawLine(c, xAt(i), plotBottom, xAt(i), plotBottom + 3, GREY);
    drawText(c, xAt(i), plotBottom + 6, t, BLACK, 1, 'center');
  });
  drawLine(c, plotLeft, plotTop, plotLeft, plotBottom, GREY);
  drawLine(c, plotLeft, plotBottom, plotRight, plotBottom, GREY);
  if (o.xLabel) drawText(c, (plotLeft + plotRight) / 2, plotBottom + 6 + LINE, o.xLabel, GREY, 1, 'center');
  if (o.yLabel) drawText(c, plotLeft, plotTop - LINE, o.yLabel, GREY);
  o.series.forEach((s, k) => {
    const col = s.color ?? SERIES_COLORS[k % SERIES_COLORS.length];
    let prev: [number, number] | null = null;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        prev = null;
        return;
      }
      const p: [number, number] = [xAt(i), yAt(v)];
      if (prev) drawLine(c, prev[0], prev[1], p[0], p[1], col, 2, s.dashed ? [6, 4] : undefined);
      fillCircle(c, p[0], p[1], 3, col);
      prev = p;
    });
    const ly = plotTop + k * 14;
    drawLine(c, plotRight + 12, ly + 3, plotRight + 30, ly + 3, col, 2, s.dashed ? [4, 3] : undefined);
    drawText(c, plotRight + 36, ly, s.name);
  });
  return c;
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
  colors?: readonly Rgb[];
  panelWidth?: number;
}

/** Side-by-side panels of horizontal bars, one bar per category, each panel on its own scale (from 0). */
export function barPanelsChart(o: BarPanelsOptions): RgbImage {
  for (const p of o.panels)
    if (p.values.length !== o.categories.length)
      throw new ChartInputError(
        `panel ${p.title} has ${p.values.length} values for ${o.categories.length} categories`,
      );
  const labelW = Math.max(0, ...o.categories.map((l) => textWidth(l))) + 12;
  const panelW = o.panelWidth ?? 230;
  const barH = 16;
  const gap = 8;
  const top = PAD + 3 * LINE + (o.subtitle ? LINE : 0) + LINE;
  const width = PAD + labelW + o.panels.length * (panelW + 2 * PAD) + PAD;
  const height = top + o.categories.length * (barH + gap) + PAD;
  const c = createCanvas(width, height);
  drawText(c, PAD, PAD, o.title, BLACK, 2);
  if (o.subtitle) drawText(c, PAD, PAD + 2 * LINE + 2, o.subtitle, GREY);
  o.categories.forEach((l, i) =>
    drawText(c, PAD + labelW - 8, top + i * (barH + gap) + 4, l, BLACK, 1, 'right'),
  );
  o.panels.forEach((p, k) => {
    const x0 = PAD + labelW + k * (panelW + 2 * PAD);
    drawText(c, x0, top - LINE - 4, p.title);
    const fmt = p.format ?? ((v: number) => v.toPrecision(3));
    const finite = p.values.filter((v): v is number => v !== null && Number.isFinite(v));
    const max = Math.max(0, ...finite) || 1;
    const valueW = Math.max(0, ...finite.map((v) => textWidth(fmt(v)))) + 6;
    const span = panelW - valueW;
    drawLine(c, x0, top - 2, x0, top + o.categories.length * (barH + gap) - gap + 2, GREY);
    p.values.forEach((v, i) => {
      const y = top + i * (barH + gap);
      if (v === null || !Number.isFinite(v)) {
        drawText(c, x0 + 4, y + 4, 'n/a', GREY);
        return;
      }
      const w = Math.max(0, (Math.max(0, v) / max) * span);
      fillRect(c, x0 + 1, y, w, barH, (o.colors ?? SERIES_COLORS)[i % (o.colors ?? SERIES_COLORS).length]);
      drawText(c, x0 + 1 + w + 4, y + 4, fmt(v));
    });
  });
  return c;
}
