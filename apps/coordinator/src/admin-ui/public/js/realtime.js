import { io } from '../vendor/socket.io.esm.min.js';
import * as session from './session.js';

// One socket per signed-in tab on the coordinator's /v1 namespace; pages subscribe to its events.
const EVENTS = ['bundle.published', 'task.status_changed', 'site.presence', 'training.progress'];
const listeners = new Map(EVENTS.map((e) => [e, new Set()]));
const stateListeners = new Set();
let socket = null;
let state = { connected: false, message: 'Live updates: not connected' };

/** Training reports seen since sign-in, newest last, per site and task (the coordinator keeps none). */
export const trainingLog = new Map();

export function on(event, f) {
  listeners.get(event).add(f);
  return () => listeners.get(event).delete(f);
}

export function onState(f) {
  stateListeners.add(f);
  f(state);
  return () => stateListeners.delete(f);
}

function setState(connected, message) {
  state = { connected, message };
  for (const f of stateListeners) f(state);
}

/** The protocol version the coordinator speaks (every HTTP answer carries it). */
async function serverProtocol() {
  const res = await fetch('/healthz');
  return res.headers.get('x-casam-protocol') ?? '0.1.0';
}

export async function connect() {
  disconnect();
  if (!session.current()) return;
  const protocolVersion = await serverProtocol();
  const s = session.current(); // again: the session may have ended while we asked
  if (!s || socket) return;
  socket = io('/v1', {
    path: '/socket.io',
    auth: { token: s.accessToken, protocolVersion },
    transports: ['websocket'],
  });
  socket.on('connect', () => setState(true, 'Live updates: connected'));
  socket.on('disconnect', () => setState(false, 'Live updates: disconnected, reconnecting…'));
  socket.on('connect_error', (e) => {
    const code = e?.data?.code;
    setState(false, `Live updates: refused (${code ?? e.message})`);
    if (code === 'token_expired' || code === 'credentials_revoked' || code === 'invalid_token') {
      disconnect();
      session.end(
        code === 'token_expired'
          ? 'Your session expired. Please sign in again.'
          : `Signed out: ${e.data.message}`,
      );
    }
  });
  socket.on('session.ended', (e) => {
    disconnect();
    session.end(
      e.code === 'token_expired' ? 'Your session expired. Please sign in again.' : `Signed out: ${e.message}`,
    );
  });
  socket.on('training.progress', (p) => {
    const key = `${p.siteId}/${p.taskId}`;
    const list = trainingLog.get(key) ?? [];
    list.push(p);
    if (list.length > 500) list.shift();
    trainingLog.set(key, list);
  });
  for (const e of EVENTS) socket.on(e, (payload) => listeners.get(e).forEach((f) => f(payload)));
}

export function disconnect() {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  setState(false, 'Live updates: not connected');
}
