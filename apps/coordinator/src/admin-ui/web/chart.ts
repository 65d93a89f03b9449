import { lineChartSvg, type LineChartSpec, type PlottedPoint, type SvgNode } from './chart-svg';
import { uid } from './dom';

// ECharts lays the chart out and describes it as SVG nodes (server-side mode, see chart-svg.ts); this module
// builds those nodes in the page the way dom.ts's `h` builds everything else, through an allowlist: SVG tags and
// presentation attributes only, text as text nodes, no markup parsed. ZRender's inline `style` attributes
// (which the CSP refuses) become presentation attributes, and each point gets a `<title>` for its hover text.
const SVG_NS = 'http://www.w3.org/2000/svg';
const TAGS = new Set([
  'svg',
  'g',
  'path',
  'circle',
  'ellipse',
  'rect',
  'line',
  'polyline',
  'polygon',
  'text',
  'tspan',
  'defs',
  'clipPath',
]);
const ATTRIBUTES = new Set([
  'width',
  'height',
  'viewBox',
  'x',
  'y',
  'x1',
  'y1',
  'x2',
  'y2',
  'dx',
  'dy',
  'cx',
  'cy',
  'r',
  'rx',
  'ry',
  'd',
  'points',
  'transform',
  'id',
  'clip-path',
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-opacity',
  'stroke-linecap',
  'stroke-linejoin',
  'stroke-miterlimit',
  'stroke-dasharray',
  'stroke-dashoffset',
  'opacity',
  'paint-order',
  'text-anchor',
  'dominant-baseline',
  'font-size',
  'font-family',
  'font-weight',
  'font-style',
]);
/** Inline style properties ECharts writes that have an SVG presentation attribute of the same name. */
const STYLE_AS_ATTRIBUTE = new Set(['font-size', 'font-family', 'font-weight', 'font-style']);

const svg = <K extends keyof SVGElementTagNameMap>(tag: K): SVGElementTagNameMap[K] =>
  document.createElementNS(SVG_NS, tag);

/**
 * A line chart over adapter versions as an `<svg class="chart" role="img">` titled `title`: one line per series,
 * each value a circle titled "series vN: value". `series` is [{name, points: [{x: version, y}]}].
 */
export function lineChart(spec: LineChartSpec & { title: string }): SVGSVGElement {
  const titleId = uid('chart');
  const drawn = lineChartSvg(spec);
  if (drawn && drawn.root.tag !== 'svg') throw new Error(`ECharts drew a <${drawn.root.tag}>, not an <svg>`);
  const root = drawn
    ? (build(drawn.root, drawn.points) as SVGSVGElement)
    : noValues(spec.width ?? 520, spec.height ?? 200);
  root.setAttribute('class', 'chart');
  root.setAttribute('role', 'img');
  root.setAttribute('aria-labelledby', titleId);
  const title = svg('title');
  title.id = titleId;
  title.textContent = spec.title;
  root.prepend(title);
  return root;
}

function noValues(width: number, height: number): SVGSVGElement {
  const root = svg('svg');
  for (const [k, v] of [
    ['width', width],
    ['height', height],
    ['viewBox', `0 0 ${width} ${height}`],
  ] as const)
    root.setAttribute(k, String(v));
  const text = svg('text');
  for (const [k, v] of [
    ['x', width / 2],
    ['y', height / 2],
    ['text-anchor', 'middle'],
    ['fill', '#57606a'],
  ] as const)
    text.setAttribute(k, String(v));
  text.textContent = 'no values reported yet';
  root.append(text);
  return root;
}

function build(node: SvgNode, points: PlottedPoint[][]): SVGElement {
  const el = document.createElementNS(SVG_NS, node.tag) as SVGElement;
  for (const [name, value] of Object.entries(node.attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (ATTRIBUTES.has(name)) el.setAttribute(name, value === true ? '' : String(value));
    else if (name === 'style')
      for (const decl of String(value).split(';')) {
        const [prop = '', v = ''] = decl.split(':').map((s) => s.trim());
        if (STYLE_AS_ATTRIBUTE.has(prop) && v) el.setAttribute(prop, v);
      }
  }
  const series = node.attrs['ecmeta_series_index'];
  const index = node.attrs['ecmeta_data_index'];
  const point = series != null && index != null ? points[Number(series)]?.[Number(index)] : undefined;
  if (point) {
    const title = svg('title');
    title.textContent = `${point.series} v${point.x}: ${point.y}`;
    el.append(title);
  }
  if (node.text) el.append(document.createTextNode(node.text));
  for (const child of node.children ?? []) if (TAGS.has(child.tag)) el.append(build(child, points));
  return el;
}
