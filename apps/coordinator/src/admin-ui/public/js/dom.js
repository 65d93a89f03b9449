// Tiny DOM helpers: every text goes in as a text node (never innerHTML), so data from the API cannot inject markup.
const SVG_NS = 'http://www.w3.org/2000/svg';
const SVG_TAGS = new Set(['svg', 'g', 'line', 'polyline', 'circle', 'text', 'title', 'path', 'rect', 'desc']);

/** h('button', {class: 'primary', onclick}, 'Approve') */
export function h(tag, attrs = {}, ...children) {
  const el = SVG_TAGS.has(tag) ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
/** A unique id for label/for pairs. */
export const uid = (prefix) => `${prefix}-${++ids}`;

/** A labelled input: returns [wrapper, input]. */
export function field(labelText, attrs = {}) {
  const id = uid('f');
  const input = h(attrs.tag ?? 'input', { ...attrs, tag: undefined, id }, ...(attrs.options ?? []));
  return [h('div', { class: 'field' }, h('label', { for: id }, labelText), input), input];
}

export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

export const short = (s, n = 12) => (s && s.length > n ? `${s.slice(0, n)}…` : (s ?? ''));

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

export const statusKind = (s) =>
  ({ approved: 'ok', active: 'ok', success: 'ok', pending: 'warn', proposed: 'warn', rotated: 'warn' })[s] ??
  (['rejected', 'revoked', 'retired', 'denied', 'expired'].includes(s) ? 'bad' : '');

export function num(v, digits = 3) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
