import { download, get } from '../api.js';
import { bytes, h, num, replace, short, time } from '../dom.js';
import * as realtime from '../realtime.js';
import { act, empty, errorBox, flash } from '../ui.js';

export async function render(main) {
  const off = realtime.on('bundle.published', (e) => {
    flash(`Bundle version ${e.version} was published.`);
    void draw(main).catch((err) => main.append(errorBox(err, 'Could not reload bundles')));
  });
  try {
    await draw(main);
  } catch (e) {
    off();
    throw e;
  }
  return off;
}

async function draw(main) {
  const { bundles } = await get('/api/v1/bundles?limit=100');
  if (bundles.length === 0) {
    replace(
      main,
      h('h1', {}, 'Bundles'),
      empty(
        'No bundle published yet: the first one is built when an admin approves an adapter of an approved task.',
      ),
    );
  } else {
    const [latest, sites, admins] = await Promise.all([
      get(`/api/v1/bundles/${bundles[0].version}`),
      get('/api/v1/sites'),
      get('/api/v1/admins'),
    ]);
    const who = { sites, admins, adapters: new Map() };
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
      h(
        'table',
        { 'aria-labelledby': 'history-title' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Version', 'Published', 'Tasks', 'Size', 'Content hash', 'Archive', 'Contents'].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          bundles.map((b) => historyRow(b, b.version === latest.version, who)),
        ),
      ),
    );
  }
}

/** The adapter versions of a bundle (for who uploaded and who approved each); cached per page visit. */
async function loadAdapters(detail, who) {
  const missing = detail.manifest.tasks.map((t) => t.adapterVersionId).filter((id) => !who.adapters.has(id));
  const found = await Promise.all(missing.map((id) => get(`/api/v1/adapters/${id}`)));
  for (const a of found) who.adapters.set(a.id, a);
}

function contents(detail, who) {
  const adminEmail = (id) => who.admins.find((a) => a.id === id)?.email ?? short(id, 8);
  const siteName = (id) => who.sites.find((s) => s.id === id)?.name ?? short(id, 8);
  const m = detail.manifest;
  if (m.tasks.length === 0) return empty('This bundle has no tasks (every task was retired).');
  return h(
    'table',
    {},
    h(
      'caption',
      { class: 'muted' },
      `Manifest: base model ${m.baseModel?.preset ?? '—'} `,
      h('code', {}, short(m.baseModel?.fingerprint ?? '', 20)),
      `, protocol ${m.protocolVersion}`,
    ),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Task', 'Modality', 'Targets', 'Adapter', 'τ', 'From', 'Approved by', 'Adapter sha256'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      m.tasks.map((t) =>
        h(
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
          h(
            'td',
            {},
            who.adapters.has(t.adapterVersionId)
              ? siteName(who.adapters.get(t.adapterVersionId).siteId)
              : '—',
          ),
          h(
            'td',
            { 'data-approved-by': t.taskId },
            who.adapters.has(t.adapterVersionId)
              ? [
                  adminEmail(who.adapters.get(t.adapterVersionId).decidedById),
                  ' · ',
                  time(who.adapters.get(t.adapterVersionId).decidedAt),
                ]
              : '—',
          ),
          h('td', {}, h('code', { title: t.sha256 }, short(t.sha256, 12))),
        ),
      ),
    ),
  );
}

function historyRow(b, current, who) {
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
        const d = await get(`/api/v1/bundles/${b.version}`);
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
