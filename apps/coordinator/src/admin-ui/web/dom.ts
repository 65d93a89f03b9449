// Tiny DOM helpers: every text goes in as a text node (never innerHTML), so data from the API cannot inject markup.

/** What `h` accepts as children: nodes, text, nothing (skipped) and nested lists of those. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
/** Attribute values: `false`/`null`/`undefined` leave the attribute out, `true` sets it empty, `on*` functions listen. */
export type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/** h('button', {class: 'primary', onclick}, 'Approve') */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') {
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    } else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c as readonly Child[]);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
/** A unique id for label/for pairs. */
export const uid = (prefix: string): string => `${prefix}-${++ids}`;

/** A labelled input or select: returns [wrapper, control]. */
export function field<T extends 'input' | 'select' = 'input'>(
  labelText: string,
  attrs: Attrs & { tag?: T } = {},
  options: readonly HTMLOptionElement[] = [],
): [HTMLDivElement, HTMLElementTagNameMap[T]] {
  const id = uid('f');
  const { tag, ...rest } = attrs;
  const control = h((tag ?? 'input') as T, { ...rest, id }, options);
  return [h('div', { class: 'field' }, h('label', { for: id }, labelText), control), control];
}

export function time(iso: string | null | undefined): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

export const short = (s: string | null | undefined, n = 12): string =>
  s && s.length > n ? `${s.slice(0, n)}…` : (s ?? '');

export function badge(text: string, kind = ''): HTMLSpanElement {
  return h('span', { class: `badge ${kind}` }, text);
}

const STATUS_KINDS: Record<string, string> = {
  approved: 'ok',
  active: 'ok',
  success: 'ok',
  pending: 'warn',
  proposed: 'warn',
  rotated: 'warn',
};
const BAD_STATUSES = new Set(['rejected', 'revoked', 'retired', 'denied', 'expired']);

export const statusKind = (s: string): string => STATUS_KINDS[s] ?? (BAD_STATUSES.has(s) ? 'bad' : '');

export function num(v: unknown, digits = 3): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A table: a header row of `columns` (null ones left out, such as an Actions column a viewer does not get) and
 * `rows` as its body (or a body element to append to later), with an optional caption.
 */
export function table(
  attrs: Attrs,
  columns: readonly (string | null)[],
  rows: Child | HTMLTableSectionElement,
  caption?: HTMLTableCaptionElement,
): HTMLTableElement {
  return h(
    'table',
    attrs,
    caption,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.filter((c) => c !== null).map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    rows instanceof HTMLTableSectionElement ? rows : h('tbody', {}, rows),
  );
}
