// The admin's session: the access token from POST /api/v1/auth/login, kept in sessionStorage (per tab, gone
// when the tab closes). It expires with the token; then the UI returns to sign-in with a message.
import type { LoginResponse } from '@casam/protocol';

/** What the tab keeps of a login. */
export type Session = Pick<LoginResponse, 'accessToken' | 'expiresAt' | 'admin'>;

const KEY = 'casam.admin.session';
let expiryTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(message: string | undefined) => void>();

export function current(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Session> | null;
    if (!s || typeof s.accessToken !== 'string' || typeof s.expiresAt !== 'string' || !s.admin) return null;
    if (Date.parse(s.expiresAt) <= Date.now()) {
      end('Your session expired. Please sign in again.');
      return null;
    }
    return s as Session;
  } catch {
    return null;
  }
}

export const isAdmin = (): boolean => current()?.admin.role === 'admin';

export function start(login: LoginResponse): Session {
  const s: Session = { accessToken: login.accessToken, expiresAt: login.expiresAt, admin: login.admin };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  sessionStorage.removeItem(`${KEY}.message`);
  schedule(s);
  return s;
}

/** Ends the session; `message` is shown on the sign-in page. */
export function end(message?: string): void {
  sessionStorage.removeItem(KEY);
  if (message) sessionStorage.setItem(`${KEY}.message`, message);
  clearTimeout(expiryTimer);
  for (const f of listeners) f(message);
}

/** The message left by the last end() (kept until the next sign-in, so a re-render still shows it). */
export function lastMessage(): string | null {
  return sessionStorage.getItem(`${KEY}.message`);
}

export function onEnd(f: (message: string | undefined) => void): void {
  listeners.add(f);
}

export function schedule(s: Session | null = current()): void {
  clearTimeout(expiryTimer);
  if (!s) return;
  const ms = Math.max(0, Date.parse(s.expiresAt) - Date.now());
  // setTimeout holds at most ~24.8 days; tokens live minutes.
  expiryTimer = setTimeout(
    () => end('Your session expired. Please sign in again.'),
    Math.min(ms, 2 ** 31 - 1),
  );
}
