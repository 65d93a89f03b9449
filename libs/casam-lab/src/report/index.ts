/** Report pictures: charts drawn by ECharts as SVG, and SVG to PNG where a report links a PNG. */
export {
  type BarPanel,
  type BarPanelsOptions,
  ChartInputError,
  type HeatmapOptions,
  type LineChartOptions,
  type LineSeries,
  SERIES_COLORS,
  VIRIDIS,
  barPanelsChart,
  heatmapChart,
  lineChart,
} from './report-charts';
export { svgToPng } from './svg-png';
