import { h } from './dom.js';

const COLORS = ['#0b5cad', '#1a7f37', '#9a6700', '#8250df', '#b42318', '#0a7d8c'];

/**
 * A small line chart as inline SVG: one line per series over adapter versions. `series` is
 * [{name, points: [{x: version, y}]}]. Presentation attributes only (the CSP allows no inline style).
 */
export function lineChart({ title, series, width = 520, height = 200, yLabel = '' }) {
  const pad = { l: 48, r: 110, t: 16, b: 32 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const titleId = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = h('svg', {
    class: 'chart',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-labelledby': titleId,
  });
  svg.append(h('title', { id: titleId }, title));
  if (all.length === 0) {
    svg.append(
      h(
        'text',
        { x: width / 2, y: height / 2, 'text-anchor': 'middle', fill: '#57606a' },
        'no values reported yet',
      ),
    );
    return svg;
  }
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  let y0 = Math.min(0, ...ys);
  let y1 = Math.max(...ys);
  if (y1 === y0) y1 = y0 + 1;
  const X = (x) => pad.l + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const axis = h('g', { stroke: '#8c959f', 'stroke-width': 1 });
  axis.append(h('line', { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  axis.append(h('line', { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
  svg.append(axis);
  for (const v of [y0, (y0 + y1) / 2, y1])
    svg.append(
      h(
        'text',
        { x: pad.l - 6, y: Y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#57606a' },
        v.toFixed(2),
      ),
    );
  for (const x of [...new Set(xs)].sort((a, b) => a - b))
    svg.append(
      h(
        'text',
        { x: X(x), y: height - pad.b + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#57606a' },
        `v${x}`,
      ),
    );
  if (yLabel) svg.append(h('text', { x: 4, y: pad.t - 4, 'font-size': 11, fill: '#57606a' }, yLabel));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const color = COLORS[i % COLORS.length];
    if (pts.length > 1)
      svg.append(
        h('polyline', {
          fill: 'none',
          stroke: color,
          'stroke-width': 2,
          points: pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(' '),
        }),
      );
    for (const p of pts)
      svg.append(
        h(
          'circle',
          { cx: X(p.x), cy: Y(p.y), r: 3.5, fill: color },
          h('title', {}, `${s.name} v${p.x}: ${p.y}`),
        ),
      );
    svg.append(
      h('text', { x: width - pad.r + 8, y: pad.t + 14 + i * 16, 'font-size': 12, fill: color }, s.name),
    );
  });
  return svg;
}
