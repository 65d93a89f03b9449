import type { BundleDetail, SitePresenceEvent, SiteSummary } from '@casam/protocol';
import { ApiError, get, post } from '../api';
import { badge, field, h, replace, short, statusKind, table, time } from '../dom';
import * as realtime from '../realtime';
import { act, canChange, empty, flash, viewerNote } from '../ui';
import { enrollmentTokens } from './enrollment-tokens';
import { following, redraw, type RenderPage } from './page';
import { reasonForm } from './reason-form';

const RECENT_MS = 2 * 60_000; // connected sites refresh their last-seen every 60 s

type Rerender = () => Promise<void>;

/**
 * Live presence per site, from `site.presence` events (the REST API only knows "last seen"): online state, and
 * the agent version and installed bundle the site reports on connect and after every pull.
 */
const live = new Map<string, SitePresenceEvent>();

let sites: SiteSummary[] = [];
/** The newest published bundle version (null: none yet), to tell which sites are behind. */
let latestBundle: number | null = null;

export const render: RenderPage = async (main) => {
  const cell = (kind: string, siteId: string) =>
    main.querySelector<HTMLElement>(`[data-${kind}="${CSS.escape(siteId)}"]`);
  const offPresence = realtime.on('site.presence', (e) => {
    const before = live.get(e.siteId);
    live.set(e.siteId, { ...before, ...e });
    const site = sites.find((s) => s.id === e.siteId);
    if (!site) return;
    const p = cell('presence', e.siteId);
    if (p) replace(p, presence(site));
    const b = cell('bundle', e.siteId);
    if (b) replace(b, bundleOf(site));
    const a = cell('agent', e.siteId);
    if (a) a.textContent = agentOf(site);
    if (before?.online !== e.online) flash(`${site.name} is ${e.online ? 'online' : 'offline'}.`);
  });
  const offBundle = realtime.on('bundle.published', (e) => {
    latestBundle = Math.max(latestBundle ?? 0, e.version);
    for (const site of sites) {
      const b = cell('bundle', site.id);
      if (b) replace(b, bundleOf(site));
    }
  });
  return following([offPresence, offBundle], () => draw(main));
};

async function draw(main: HTMLElement): Promise<void> {
  const [list, latest] = await Promise.all([
    get<SiteSummary[]>('/api/v1/sites'),
    get<BundleDetail>('/api/v1/bundles/latest').catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }),
  ]);
  sites = list;
  latestBundle = latest ? Math.max(latestBundle ?? 0, latest.version) : latestBundle;
  const pending = sites.filter((s) => s.status === 'pending');
  const others = sites.filter((s) => s.status !== 'pending');
  const rerender = redraw(main, 'sites', draw);

  replace(
    main,
    h('h1', {}, 'Sites'),
    h(
      'p',
      { class: 'muted' },
      'Enrollments arrive without notice: ',
      h('button', { type: 'button', onclick: () => void rerender() }, 'Refresh sites'),
    ),
    viewerNote(),
    h('h2', { id: 'pending-title' }, `Pending enrollments (${pending.length})`),
    pending.length === 0
      ? empty('No pending sites.')
      : h(
          'div',
          { 'aria-labelledby': 'pending-title' },
          pending.map((s) => pendingCard(s, rerender)),
        ),
    h('h2', { id: 'sites-title' }, 'All sites'),
    others.length === 0 ? empty('No approved, rejected or revoked sites yet.') : sitesTable(others, rerender),
    await enrollmentTokens(sites),
  );
}

/** A site's keys, newest first (a rotation leaves the previous key working until its notAfter). */
function keysCell(site: SiteSummary, rerender: Rerender): HTMLElement {
  const errorSlot = h('div');
  const active = site.keys.find((k) => k.status === 'active');
  return h(
    'details',
    {},
    h(
      'summary',
      {},
      active ? h('code', { title: active.fingerprint }, short(active.fingerprint, 16)) : 'no active key',
      ` · ${site.keys.length} key(s)`,
    ),
    h(
      'ul',
      {},
      site.keys.map((k) =>
        h(
          'li',
          { 'data-key': k.id },
          h('code', {}, k.fingerprint),
          ' ',
          badge(k.status, statusKind(k.status)),
          k.notAfter && k.status === 'rotated' ? [' works until ', time(k.notAfter)] : null,
          canChange() && k.status !== 'revoked' && site.status === 'approved'
            ? reasonForm(
                'Revoke key',
                `Reason for revoking key ${short(k.fingerprint, 8)}`,
                errorSlot,
                (reason) => post(`/api/v1/sites/${site.id}/keys/${k.id}/revoke`, { reason }),
                () => {
                  flash(`Key ${short(k.fingerprint, 8)} of ${site.name} revoked.`);
                  return rerender();
                },
              )
            : null,
        ),
      ),
    ),
    errorSlot,
  );
}

function pendingCard(site: SiteSummary, rerender: Rerender): HTMLElement {
  const key = site.keys.find((k) => k.status === 'active') ?? site.keys[0];
  const errorSlot = h('div');
  const card = h(
    'section',
    { class: 'card', 'data-site': site.id, 'aria-label': `Pending site ${site.name}` },
    h('h3', {}, site.name),
    h(
      'p',
      {},
      'Enrolled ',
      time(site.createdAt),
      ' · agent ',
      site.presence.agentVersion ?? 'unknown',
      ' · from ',
      site.presence.lastSeenAddress ?? 'unknown address',
    ),
    h('p', {}, 'Registered key fingerprint: ', h('code', { class: 'fingerprint' }, key?.fingerprint ?? '—')),
  );
  if (canChange()) {
    const [fpField, fp] = field('Fingerprint read out by the hospital', {
      name: 'keyFingerprint',
      autocomplete: 'off',
      spellcheck: 'false',
      size: 50,
    });
    const verdict = h(
      'p',
      { class: 'muted', 'aria-live': 'polite' },
      'Ask the hospital to read its fingerprint to you, and type it here.',
    );
    fp.addEventListener('input', () => {
      const typed = fp.value.trim();
      verdict.textContent = !typed
        ? 'Ask the hospital to read its fingerprint to you, and type it here.'
        : typed === key?.fingerprint
          ? 'Matches the registered key.'
          : 'Does not match the registered key (yet).';
    });
    const approve = h('button', { type: 'submit', class: 'primary' }, 'Approve');
    const approveForm = h('form', { class: 'row' }, fpField, approve);
    approveForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void act(
        approve,
        errorSlot,
        () => post(`/api/v1/sites/${site.id}/approve`, { keyFingerprint: fp.value.trim() }),
        () => {
          flash(`${site.name} approved.`);
          return rerender();
        },
      );
    });
    card.append(
      approveForm,
      verdict,
      reasonForm(
        'Reject',
        'Reason for rejecting',
        errorSlot,
        (reason) => post(`/api/v1/sites/${site.id}/reject`, { reason }),
        () => {
          flash(`${site.name} rejected.`);
          return rerender();
        },
      ),
    );
  }
  card.append(errorSlot);
  return card;
}

function presence(site: SiteSummary): HTMLElement {
  const ev = live.get(site.id);
  if (ev)
    return h(
      'span',
      { class: ev.online ? 'online' : 'offline', 'data-online': String(ev.online) },
      ev.online ? '● online' : '○ offline',
      ' since ',
      time(ev.at),
    );
  const seen = site.presence.lastSeenAt;
  const recent = seen !== null && Date.now() - Date.parse(seen) < RECENT_MS;
  return h(
    'span',
    { class: recent ? 'online' : 'offline', 'data-online': recent ? 'recent' : 'false' },
    recent ? '◐ seen in the last 2 minutes' : '○ offline',
  );
}

const agentOf = (site: SiteSummary): string =>
  live.get(site.id)?.agentVersion ?? site.presence.agentVersion ?? '—';

/** The bundle the site reports running, marked current or behind the newest published one. */
function bundleOf(site: SiteSummary): HTMLElement {
  const ev = live.get(site.id);
  const fromEvent = ev !== undefined && 'bundleVersion' in ev;
  const v = fromEvent ? (ev.bundleVersion ?? null) : site.presence.bundleVersion;
  const reported = fromEvent || site.presence.bundleReportedAt !== null;
  if (!reported) return h('span', { class: 'muted' }, 'not reported');
  if (v === null) return h('span', { 'data-bundle-state': 'none' }, 'none installed');
  const current = latestBundle === null || v >= latestBundle;
  return h(
    'span',
    { 'data-bundle-state': current ? 'current' : 'behind' },
    `v${v} `,
    badge(current ? 'current' : `behind (v${latestBundle} is out)`, current ? 'ok' : 'warn'),
  );
}

/** "Ask for a new key": the site's agent rotates its key when it gets the request (at once, or on connect). */
function rotateForm(site: SiteSummary, errorSlot: Element, rerender: Rerender): HTMLElement {
  const button = h('button', { type: 'button' }, 'Ask for a new key');
  button.addEventListener('click', () => {
    void act(
      button,
      errorSlot,
      () => post(`/api/v1/sites/${site.id}/key-rotation-request`),
      () => {
        flash(`${site.name} was asked to rotate its key.`);
        return rerender();
      },
    );
  });
  return h(
    'div',
    { class: 'row' },
    button,
    site.keyRotationRequestedAt
      ? h('span', { class: 'muted' }, ' requested ', time(site.keyRotationRequestedAt), ', not done yet')
      : null,
  );
}

function sitesTable(list: SiteSummary[], rerender: Rerender): HTMLTableElement {
  return table(
    { 'aria-labelledby': 'sites-title' },
    [
      'Name',
      'Status',
      'Presence',
      'Last seen',
      'Agent',
      'Bundle',
      'Protocol',
      'Keys',
      canChange() ? 'Actions' : null,
    ],
    list.map((s) => {
      const errorSlot = h('div');
      return h(
        'tr',
        { 'data-site': s.id },
        h('th', { scope: 'row' }, s.name),
        h(
          'td',
          {},
          badge(s.status, statusKind(s.status)),
          s.statusReason ? h('div', { class: 'muted' }, s.statusReason) : null,
        ),
        h('td', { 'data-presence': s.id }, presence(s)),
        h('td', {}, time(s.presence.lastSeenAt)),
        h('td', { 'data-agent': s.id }, agentOf(s)),
        h('td', { 'data-bundle': s.id }, bundleOf(s)),
        h('td', {}, s.presence.protocolVersion ?? '—'),
        h('td', {}, keysCell(s, rerender)),
        canChange()
          ? h(
              'td',
              {},
              s.status === 'approved'
                ? [
                    rotateForm(s, errorSlot, rerender),
                    reasonForm(
                      'Revoke',
                      `Reason for revoking ${s.name}`,
                      errorSlot,
                      (reason) => post(`/api/v1/sites/${s.id}/revoke`, { reason }),
                      () => {
                        flash(`${s.name} revoked.`);
                        return rerender();
                      },
                    ),
                  ]
                : h('span', { class: 'muted' }, 'no action'),
              errorSlot,
            )
          : null,
      );
    }),
  );
}
