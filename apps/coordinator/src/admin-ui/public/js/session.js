// The admin's session: the access token from POST /api/v1/auth/login, kept in sessionStorage (per tab, gone
// when the tab closes). It expires with the token; then the UI returns to sign-in with a message.
const KEY = 'casam.admin.session';
let expiryTimer = null;
const listeners = new Set();

export function current() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    if (!s || typeof s.accessToken !== 'string') return null;
    if (Date.parse(s.expiresAt) <= Date.now()) {
      end('Your session expired. Please sign in again.');
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export const isAdmin = () => current()?.admin.role === 'admin';

export function start(login) {
  const s = { accessToken: login.accessToken, expiresAt: login.expiresAt, admin: login.admin };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  sessionStorage.removeItem(`${KEY}.message`);
  schedule(s);
  return s;
}

/** Ends the session; `message` is shown on the sign-in page. */
export function end(message) {
  sessionStorage.removeItem(KEY);
  if (message) sessionStorage.setItem(`${KEY}.message`, message);
  clearTimeout(expiryTimer);
  for (const f of listeners) f(message);
}

/** The message left by the last end() (kept until the next sign-in, so a re-render still shows it). */
export function lastMessage() {
  return sessionStorage.getItem(`${KEY}.message`);
}

export function onEnd(f) {
  listeners.add(f);
}

export function schedule(s = current()) {
  clearTimeout(expiryTimer);
  if (!s) return;
  const ms = Math.max(0, Date.parse(s.expiresAt) - Date.now());
  // setTimeout holds at most ~24.8 days; tokens live minutes.
  expiryTimer = setTimeout(
    () => end('Your session expired. Please sign in again.'),
    Math.min(ms, 2 ** 31 - 1),
  );
}
