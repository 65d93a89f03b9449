import { h, replace } from './dom.js';
import * as realtime from './realtime.js';
import * as session from './session.js';
import { errorBox, loading } from './ui.js';
import * as signIn from './pages/sign-in.js';
import * as sites from './pages/sites.js';
import * as tasks from './pages/tasks.js';
import * as adapters from './pages/adapters.js';
import * as bundles from './pages/bundles.js';
import * as audit from './pages/audit.js';
import * as training from './pages/training.js';

const PAGES = [
  { path: 'sites', title: 'Sites', page: sites },
  { path: 'tasks', title: 'Tasks', page: tasks },
  { path: 'adapters', title: 'Adapters', page: adapters },
  { path: 'bundles', title: 'Bundles', page: bundles },
  { path: 'audit', title: 'Audit log', page: audit },
  { path: 'training', title: 'Training', page: training },
];

const main = document.getElementById('main');
let cleanup = null;
let unState = null;

function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  return { path, params: new URLSearchParams(query) };
}

function renderChrome(s) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
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
    live.dataset.connected = String(st.connected);
  });
  replace(
    who,
    live,
    h('span', { id: 'who-am-i' }, `${s.admin.email} (${s.admin.role})`),
    h('button', { type: 'button', id: 'sign-out', onclick: () => signOut() }, 'Sign out'),
  );
}

function signOut() {
  realtime.disconnect();
  session.end('You signed out.');
}

async function route() {
  cleanup?.();
  cleanup = null;
  document.getElementById('flash').replaceChildren(); // a message belongs to the page it was said on
  const s = session.current();
  const { path, params } = parseHash();
  if (!s) {
    renderChrome(null);
    document.title = 'Sign in · CA-SAM Federation';
    if (path !== 'sign-in') {
      history.replaceState(null, '', '#/sign-in');
    }
    cleanup = await signIn.render(main, {
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
    cleanup = (await entry.page.render(main, { params })) ?? null;
  } catch (e) {
    replace(main, h('h1', {}, entry.title), errorBox(e, `Could not load ${entry.title.toLowerCase()}`));
  }
  main.focus();
}

session.onEnd(() => {
  realtime.disconnect();
  document.getElementById('flash').replaceChildren();
  if (location.hash !== '#/sign-in') location.hash = '#/sign-in';
  else void route();
});

window.addEventListener('hashchange', () => void route());

if (session.current()) {
  session.schedule();
  void realtime.connect();
}
void route();
