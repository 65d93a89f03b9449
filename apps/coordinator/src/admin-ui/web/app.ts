// The admin UI's entry point: a hash router over the pages, the top bar, and the session's life cycle. esbuild
// bundles it with everything it imports into js/app.js (see ../admin-ui.bundle.ts).
import { h, replace } from './dom';
import type { PageContext, RenderPage } from './pages/page';
import * as adapters from './pages/adapters';
import * as audit from './pages/audit';
import * as bundles from './pages/bundles';
import * as signIn from './pages/sign-in';
import * as sites from './pages/sites';
import * as tasks from './pages/tasks';
import * as training from './pages/training';
import * as realtime from './realtime';
import * as session from './session';
import { errorBox, loading } from './ui';

const PAGES: { path: string; title: string; render: RenderPage }[] = [
  { path: 'sites', title: 'Sites', render: sites.render },
  { path: 'tasks', title: 'Tasks', render: tasks.render },
  { path: 'adapters', title: 'Adapters', render: adapters.render },
  { path: 'bundles', title: 'Bundles', render: bundles.render },
  { path: 'audit', title: 'Audit log', render: audit.render },
  { path: 'training', title: 'Training', render: training.render },
];

const byId = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
};
const main = byId('main');
let cleanup: (() => void) | null = null;
let unState: (() => void) | null = null;

function parseHash(): PageContext & { path: string } {
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  return { path, params: new URLSearchParams(query) };
}

function renderChrome(s: session.Session | null): void {
  const nav = byId('nav');
  const who = byId('who');
  nav.hidden = who.hidden = !s;
  if (!s) return;
  const { path } = parseHash();
  replace(
    nav,
    h(
      'ul',
      {},
      PAGES.map((p) =>
        h(
          'li',
          {},
          h('a', { href: `#/${p.path}`, 'aria-current': p.path === path ? 'page' : false }, p.title),
        ),
      ),
    ),
  );
  const live = h('span', { id: 'live-state', class: 'muted', role: 'status' });
  unState?.();
  unState = realtime.onState((st) => {
    live.textContent = st.message;
    live.dataset['connected'] = String(st.connected);
  });
  replace(
    who,
    live,
    h('span', { id: 'who-am-i' }, `${s.admin.email} (${s.admin.role})`),
    h('button', { type: 'button', id: 'sign-out', onclick: () => signOut() }, 'Sign out'),
  );
}

function signOut(): void {
  realtime.disconnect();
  session.end('You signed out.');
}

async function route(): Promise<void> {
  cleanup?.();
  cleanup = null;
  byId('flash').replaceChildren(); // a message belongs to the page it was said on
  const s = session.current();
  const { path, params } = parseHash();
  if (!s) {
    renderChrome(null);
    document.title = 'Sign in · CA-SAM Federation';
    if (path !== 'sign-in') {
      history.replaceState(null, '', '#/sign-in');
    }
    await signIn.render(main, {
      onSignedIn: async () => {
        await realtime.connect();
        location.hash = '#/sites';
      },
    });
    return;
  }
  const entry = PAGES.find((p) => p.path === path);
  if (!entry) {
    location.hash = '#/sites';
    return;
  }
  renderChrome(s);
  document.title = `${entry.title} · CA-SAM Federation`;
  replace(main, loading(`Loading ${entry.title.toLowerCase()}…`));
  try {
    cleanup = (await entry.render(main, { params })) ?? null;
  } catch (e) {
    replace(main, h('h1', {}, entry.title), errorBox(e, `Could not load ${entry.title.toLowerCase()}`));
  }
  main.focus();
}

session.onEnd(() => {
  realtime.disconnect();
  byId('flash').replaceChildren();
  if (location.hash !== '#/sign-in') location.hash = '#/sign-in';
  else void route();
});

window.addEventListener('hashchange', () => void route());

if (session.current()) {
  session.schedule();
  void realtime.connect();
}
void route();
