import type {
  AdapterVersionSummary,
  AdminSummary,
  BundleDetail,
  BundleListResponse,
  BundleSummary,
  RotateSigningKeyResponse,
  SigningKeyListResponse,
  SigningKeySummary,
  SiteSummary,
} from '@casam/protocol';
import { download, get, post } from '../api';
import { badge, bytes, h, num, replace, short, statusKind, table, time } from '../dom';
import * as realtime from '../realtime';
import { act, canChange, empty, flash } from '../ui';
import { following, nameIn, redraw, type RenderPage } from './page';

/** Who is behind a bundle's adapters: sites, admins, and the adapter versions loaded so far (per page visit). */
interface Who {
  sites: SiteSummary[];
  admins: AdminSummary[];
  adapters: Map<string, AdapterVersionSummary>;
}

export const render: RenderPage = (main) =>
  following(
    [
      realtime.on('bundle.published', (e) => {
        flash(`Bundle version ${e.version} was published.`);
        void redraw(main, 'bundles', draw)();
      }),
    ],
    () => draw(main),
  );

async function draw(main: HTMLElement): Promise<void> {
  const [{ bundles }, keys] = await Promise.all([
    get<BundleListResponse>('/api/v1/bundles?limit=100'),
    get<SigningKeyListResponse>('/api/v1/signing-keys'),
  ]);
  const rerender = redraw(main, 'bundles', draw);
  const newest = bundles[0];
  if (!newest) {
    replace(
      main,
      h('h1', {}, 'Bundles'),
      empty(
        'No bundle published yet: the first one is built when an admin approves an adapter of an approved task.',
      ),
      signingKeys(keys.keys, rerender),
    );
    return;
  }
  const [latest, sites, admins] = await Promise.all([
    get<BundleDetail>(`/api/v1/bundles/${newest.version}`),
    get<SiteSummary[]>('/api/v1/sites'),
    get<AdminSummary[]>('/api/v1/admins'),
  ]);
  const who: Who = { sites, admins, adapters: new Map() };
  await loadAdapters(latest, who);
  replace(
    main,
    h('h1', {}, 'Bundles'),
    h(
      'section',
      { class: 'card', id: 'current-bundle', 'aria-labelledby': 'current-title' },
      h('h2', { id: 'current-title' }, `Current bundle: version ${latest.version}`),
      h(
        'p',
        {},
        'Published ',
        time(latest.createdAt),
        ` · ${latest.taskCount} task(s) · ${bytes(latest.size)} · signed by key `,
        h('code', {}, short(latest.kid, 16)),
      ),
      contents(latest, who),
    ),
    h('h2', { id: 'history-title' }, 'History'),
    table(
      { 'aria-labelledby': 'history-title' },
      ['Version', 'Published', 'Tasks', 'Size', 'Content hash', 'Archive', 'Contents'],
      bundles.map((b) => historyRow(b, b.version === latest.version, who)),
    ),
    signingKeys(keys.keys, rerender),
  );
}

/**
 * The coordinator's bundle-signing keys. A rotation has two steps: the first adds a pending key (published in
 * the JWKS and endorsed by the active key, not signing yet, so sites learn it first); the second (or the
 * configured delay) makes it the signing key and retires the old one, which stays published for verification.
 */
function signingKeys(keys: SigningKeySummary[], rerender: () => Promise<void>): HTMLElement {
  const errorSlot = h('div');
  const pending = keys.find((k) => k.status === 'pending');
  let control: HTMLElement | null = null;
  if (canChange()) {
    const button = h(
      'button',
      { type: 'button' },
      pending ? 'Activate the pending signing key now' : 'Start a signing-key rotation',
    );
    button.addEventListener('click', () =>
      act(
        button,
        errorSlot,
        () => post<RotateSigningKeyResponse>('/api/v1/signing-keys/rotate'),
        (r) => {
          flash(
            r.action === 'activated'
              ? `Key ${short(r.key.kid, 12)} now signs bundles; ${r.retired ? short(r.retired.kid, 12) : 'no key'} was retired.`
              : `Key ${short(r.key.kid, 12)} was added as pending; sites learn it before it signs.`,
          );
          return rerender();
        },
      ),
    );
    control = h(
      'p',
      { class: 'row' },
      button,
      h(
        'span',
        { class: 'muted' },
        pending
          ? pending.activatesAt
            ? [' It activates on its own at ', time(pending.activatesAt), '.']
            : ''
          : ' A new key is published first and signs only after the next step.',
      ),
    );
  }
  return h(
    'section',
    { 'aria-labelledby': 'signing-title' },
    h('h2', { id: 'signing-title' }, 'Signing keys'),
    keys.length === 0
      ? empty('No signing key yet: the first is made when the first bundle is built.')
      : table(
          { 'aria-labelledby': 'signing-title' },
          ['Key id', 'State', 'Created', 'Signing since', 'Retired'],
          keys.map((k) =>
            h(
              'tr',
              { 'data-signing-key': k.kid },
              h('th', { scope: 'row' }, h('code', { title: k.kid }, short(k.kid, 16))),
              h('td', {}, badge(k.status, statusKind(k.status))),
              h('td', {}, time(k.createdAt)),
              h('td', {}, k.activatedAt ? time(k.activatedAt) : h('span', { class: 'muted' }, 'not yet')),
              h('td', {}, k.retiredAt ? time(k.retiredAt) : '—'),
            ),
          ),
        ),
    control,
    errorSlot,
  );
}

/** The adapter versions of a bundle (for who uploaded and who approved each); cached per page visit. */
async function loadAdapters(detail: BundleDetail, who: Who): Promise<void> {
  const missing = detail.manifest.tasks.map((t) => t.adapterVersionId).filter((id) => !who.adapters.has(id));
  const found = await Promise.all(missing.map((id) => get<AdapterVersionSummary>(`/api/v1/adapters/${id}`)));
  for (const a of found) who.adapters.set(a.id, a);
}

function contents(detail: BundleDetail, who: Who): HTMLElement {
  const adminEmail = (id: string | null) => who.admins.find((a) => a.id === id)?.email ?? short(id, 8);
  const siteName = nameIn(who.sites);
  const m = detail.manifest;
  if (m.tasks.length === 0) return empty('This bundle has no tasks (every task was retired).');
  return table(
    {},
    ['Task', 'Modality', 'Targets', 'Adapter', 'τ', 'From', 'Approved by', 'Adapter sha256'],
    m.tasks.map((t) => {
      const adapter = who.adapters.get(t.adapterVersionId);
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, t.name),
        h('td', {}, t.modality),
        h('td', {}, t.targetStructures.join(', ')),
        h(
          'td',
          {},
          h('a', { href: `#/adapters?task=${encodeURIComponent(t.taskId)}` }, `v${t.adapterVersion}`),
        ),
        h('td', {}, num(t.tau)),
        h('td', {}, adapter ? siteName(adapter.siteId) : '—'),
        h(
          'td',
          { 'data-approved-by': t.taskId },
          adapter ? [adminEmail(adapter.decidedById), ' · ', time(adapter.decidedAt)] : '—',
        ),
        h('td', {}, h('code', { title: t.sha256 }, short(t.sha256, 12))),
      );
    }),
    h(
      'caption',
      { class: 'muted' },
      `Manifest: base model ${m.baseModel?.preset ?? '—'} `,
      h('code', {}, short(m.baseModel?.fingerprint ?? '', 20)),
      `, protocol ${m.protocolVersion}`,
    ),
  );
}

function historyRow(b: BundleSummary, current: boolean, who: Who): HTMLTableRowElement {
  const errorSlot = h('div');
  const dl = h('button', { type: 'button' }, `Download v${b.version}`);
  dl.addEventListener('click', () =>
    act(dl, errorSlot, () =>
      download(`/api/v1/bundles/${b.version}/archive`, `casam-bundle-v${b.version}.tar`),
    ),
  );
  const show = h('button', { type: 'button', 'aria-expanded': 'false' }, 'Show contents');
  const slot = h('div');
  show.addEventListener('click', () => {
    if (show.getAttribute('aria-expanded') === 'true') {
      slot.replaceChildren();
      show.setAttribute('aria-expanded', 'false');
      return;
    }
    void act(
      show,
      errorSlot,
      async () => {
        const d = await get<BundleDetail>(`/api/v1/bundles/${b.version}`);
        await loadAdapters(d, who);
        return d;
      },
      (d) => {
        slot.replaceChildren(contents(d, who));
        show.setAttribute('aria-expanded', 'true');
      },
    );
  });
  return h(
    'tr',
    { class: current ? 'current' : '', 'data-bundle': b.version, 'aria-current': current ? 'true' : false },
    h('th', { scope: 'row' }, `v${b.version}`, current ? h('span', { class: 'badge ok' }, ' current') : null),
    h('td', {}, time(b.createdAt)),
    h('td', {}, String(b.taskCount)),
    h('td', {}, bytes(b.size)),
    h('td', {}, h('code', { title: b.contentHash }, short(b.contentHash, 12))),
    h('td', {}, dl, errorSlot),
    h('td', {}, show, slot),
  );
}
