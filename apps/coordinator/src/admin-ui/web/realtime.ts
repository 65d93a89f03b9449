import type { ClientToServerEvents, ServerToClientEvents, TrainingProgressEvent } from '@casam/protocol';
import { io, type Socket } from 'socket.io-client';
import * as session from './session';

// One socket per signed-in tab on the coordinator's /v1 namespace; pages subscribe to its events. The client
// is the coordinator's own copy of socket.io-client's ESM build (vendor/, see admin-ui.bundle.ts).
const EVENTS = ['bundle.published', 'task.status_changed', 'site.presence', 'training.progress'] as const;
type PageEvent = (typeof EVENTS)[number];
/** The payload of a server event, from the protocol's typed event map. */
export type EventOf<E extends PageEvent> = Parameters<ServerToClientEvents[E]>[0];

const listeners = new Map<PageEvent, Set<(payload: unknown) => void>>(EVENTS.map((e) => [e, new Set()]));
export interface LiveState {
  connected: boolean;
  message: string;
}
const stateListeners = new Set<(state: LiveState) => void>();
let socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
let state: LiveState = { connected: false, message: 'Live updates: not connected' };

/** Training reports seen since sign-in, newest last, per site and task (the coordinator keeps none). */
export const trainingLog = new Map<string, TrainingProgressEvent[]>();

export function on<E extends PageEvent>(event: E, f: (payload: EventOf<E>) => void): () => void {
  const set = listeners.get(event)!;
  const g = f as (payload: unknown) => void;
  set.add(g);
  return () => set.delete(g);
}

export function onState(f: (state: LiveState) => void): () => void {
  stateListeners.add(f);
  f(state);
  return () => stateListeners.delete(f);
}

function setState(connected: boolean, message: string): void {
  state = { connected, message };
  for (const f of stateListeners) f(state);
}

/** The protocol version the coordinator speaks (every HTTP answer carries it). */
async function serverProtocol(): Promise<string> {
  const res = await fetch('/healthz');
  return res.headers.get('x-casam-protocol') ?? '0.1.0';
}

function endSession(code: string, message: string): void {
  disconnect();
  session.end(
    code === 'token_expired' ? 'Your session expired. Please sign in again.' : `Signed out: ${message}`,
  );
}

export async function connect(): Promise<void> {
  disconnect();
  if (!session.current()) return;
  const protocolVersion = await serverProtocol();
  const s = session.current(); // again: the session may have ended while we asked
  if (!s || socket) return;
  const sock: Socket<ServerToClientEvents, ClientToServerEvents> = io('/v1', {
    path: '/socket.io',
    auth: { token: s.accessToken, protocolVersion },
    transports: ['websocket'],
  });
  socket = sock;
  sock.on('connect', () => setState(true, 'Live updates: connected'));
  sock.on('disconnect', () => setState(false, 'Live updates: disconnected, reconnecting…'));
  sock.on('connect_error', (e: Error & { data?: { code?: string; message?: string } }) => {
    const code = e.data?.code;
    setState(false, `Live updates: refused (${code ?? e.message})`);
    if (code === 'token_expired' || code === 'credentials_revoked' || code === 'invalid_token')
      endSession(code, e.data?.message ?? e.message);
  });
  sock.on('session.ended', (e) => endSession(e.code, e.message));
  sock.on('training.progress', (p) => {
    const key = `${p.siteId}/${p.taskId}`;
    const list = trainingLog.get(key) ?? [];
    list.push(p);
    if (list.length > 500) list.shift();
    trainingLog.set(key, list);
  });
  for (const e of EVENTS) sock.on(e, (payload: unknown) => listeners.get(e)!.forEach((f) => f(payload)));
}

export function disconnect(): void {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  setState(false, 'Live updates: not connected');
}
