import type { AdminSummary, AuditEventListResponse, AuditEventView, SiteSummary } from '@casam/protocol';
import { get } from '../api';
import { badge, field, h, replace, short, statusKind, table, time } from '../dom';
import { act, empty, errorBox } from '../ui';
import { nameIn, type RenderPage } from './page';

const PAGE = 50;

export const render: RenderPage = async (main, { params }) => {
  const [sites, admins] = await Promise.all([
    get<SiteSummary[]>('/api/v1/sites'),
    get<AdminSummary[]>('/api/v1/admins'),
  ]);
  const choices = (name: string, values: string[]) =>
    values.map((v) => h('option', { value: v, selected: params.get(name) === v }, v || 'any'));
  const [actorField, actorType] = field(
    'Actor type',
    { tag: 'select', name: 'actorType' },
    choices('actorType', ['', 'admin', 'site', 'system', 'anonymous']),
  );
  const [actionField, action] = field('Action (exact, e.g. site.approved)', {
    name: 'action',
    value: params.get('action') ?? '',
    pattern: '[a-z0-9_.]{1,100}',
    size: 24,
  });
  const [siteField, site] = field('Site', { tag: 'select', name: 'siteId' }, [
    h('option', { value: '' }, 'any'),
    ...sites.map((s) => h('option', { value: s.id, selected: params.get('siteId') === s.id }, s.name)),
  ]);
  const [outcomeField, outcome] = field(
    'Outcome',
    { tag: 'select', name: 'outcome' },
    choices('outcome', ['', 'success', 'denied']),
  );
  const [sinceField, since] = field('From (local time)', { type: 'datetime-local', name: 'since', step: 1 });
  const [untilField, until] = field('Until (local time)', { type: 'datetime-local', name: 'until', step: 1 });
  const apply = h('button', { type: 'submit', class: 'primary' }, 'Apply filters');
  const form = h(
    'form',
    { class: 'card row', 'aria-label': 'Audit log filters' },
    actorField,
    actionField,
    siteField,
    outcomeField,
    sinceField,
    untilField,
    apply,
  );
  const errorSlot = h('div');
  const results = h('div');
  const more = h('button', { type: 'button', hidden: true }, 'Older events');
  let cursor: string | null = null;
  let tbody: HTMLTableSectionElement | null = null;

  const query = () => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (actorType.value) q.set('actorType', actorType.value);
    if (action.value.trim()) q.set('action', action.value.trim());
    if (site.value) q.set('siteId', site.value);
    if (outcome.value) q.set('outcome', outcome.value);
    if (since.value) q.set('since', new Date(since.value).toISOString());
    if (until.value) q.set('until', new Date(until.value).toISOString());
    if (cursor) q.set('cursor', cursor);
    return q;
  };
  const siteName = nameIn(sites);
  const actorName = (type: AuditEventView['actorType'], id: string) =>
    type === 'site'
      ? siteName(id)
      : type === 'admin'
        ? (admins.find((a) => a.id === id)?.email ?? short(id, 8))
        : short(id, 8);
  const load = async (reset: boolean) => {
    if (reset) cursor = null;
    const page = await get<AuditEventListResponse>(`/api/v1/audit-events?${query()}`);
    if (reset) {
      if (page.events.length === 0) {
        replace(results, empty('No audit events match these filters.'));
        tbody = null;
      } else {
        tbody = h('tbody');
        replace(
          results,
          table(
            { 'aria-label': 'Audit events, newest first' },
            ['When', 'Actor', 'Action', 'Outcome', 'Target', 'Site', 'From', 'Correlation id', 'Details'],
            tbody,
          ),
        );
      }
    }
    for (const e of page.events)
      tbody?.append(
        h(
          'tr',
          {},
          h('td', {}, time(e.at)),
          h(
            'td',
            {},
            e.actorType,
            e.actorId
              ? h('div', { class: 'muted', title: e.actorId }, actorName(e.actorType, e.actorId))
              : null,
          ),
          h('td', {}, h('code', {}, e.action)),
          h('td', {}, badge(e.outcome, statusKind(e.outcome))),
          h(
            'td',
            {},
            e.targetType ?? '—',
            e.targetId ? h('div', { class: 'muted mono', title: e.targetId }, short(e.targetId, 8)) : null,
          ),
          h('td', {}, e.siteId ? siteName(e.siteId) : '—'),
          h('td', {}, e.address ?? '—'),
          h('td', {}, h('code', {}, e.correlationId ?? '—')),
          h(
            'td',
            {},
            Object.keys(e.details).length
              ? h(
                  'details',
                  {},
                  h('summary', {}, 'details'),
                  h('pre', { class: 'mono' }, JSON.stringify(e.details, null, 2)),
                )
              : '—',
          ),
        ),
      );
    cursor = page.nextCursor;
    more.hidden = !cursor;
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(apply, errorSlot, () => load(true));
  });
  more.addEventListener('click', () => act(more, errorSlot, () => load(false)));

  replace(main, h('h1', {}, 'Audit log'), form, errorSlot, results, more);
  try {
    await load(true);
  } catch (e) {
    errorSlot.replaceChildren(errorBox(e, 'Could not load the audit log'));
  }
};
