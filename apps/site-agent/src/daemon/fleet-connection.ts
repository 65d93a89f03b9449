import {
  PROTOCOL_VERSION,
  REALTIME_NAMESPACE,
  REALTIME_PATH,
  type ClientToServerEvents,
  type RealtimeAck,
  type RealtimeError,
  type ServerToClientEvents,
  type SiteStatusReport,
  type TrainingProgress,
} from '@casam/protocol';
import { io, type Socket } from 'socket.io-client';
import { type CoordinatorClient, CoordinatorError, backoffDelay } from '../coordinator/coordinator-client';
import { printable } from '../cli/printable';

export type FleetSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Refusals after which reconnecting is pointless: a person must act first. */
const FINAL = new Set([
  'credentials_revoked',
  'site_not_approved',
  'protocol_too_old',
  'protocol_too_new',
  'protocol_invalid',
]);

export interface FleetConnectionOptions {
  log: (l: string) => void;
  onConnect?: () => void;
  onBundlePublished?: (version: number) => void;
  /** An admin asked this site to rotate its key (`requestedAt` names the request). */
  onKeyRotationRequested?: (requestedAt: string | undefined) => void;
  /** The coordinator refused this site for good (revoked, not approved, protocol too old). */
  onFinal?: (e: RealtimeError) => void;
  backoff?: { baseDelayMs: number; maxDelayMs: number };
}

/**
 * The agent's outbound socket.io connection to its coordinator: authenticates with a fresh access token on
 * every (re)connect, reconnects with exponential backoff and full jitter after any loss (network, coordinator
 * restart, token expiry), and stops for good only when the coordinator says the site may no longer connect.
 * Everything it sends goes through the egress gateway.
 */
export class FleetConnection {
  private socket: FleetSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  connected = false;

  constructor(
    private readonly client: CoordinatorClient,
    private readonly o: FleetConnectionOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.disconnect();
    this.socket = null;
    this.connected = false;
  }

  /** Drops the socket and connects again at once (e.g. with a token of a new key). */
  reconnect(why: string): void {
    if (this.stopped) return;
    this.o.log(`reconnecting: ${why}`);
    this.client.dropToken();
    if (this.timer) clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  /** Sends one training-progress update; resolves with the coordinator's ack (or a local failure). */
  sendProgress(p: TrainingProgress): Promise<RealtimeAck> {
    return this.emitWithAck('socket_training_progress', p);
  }

  /** Reports the agent version and the installed bundle (shown to admins as the site's presence). */
  sendStatus(r: SiteStatusReport): Promise<RealtimeAck> {
    return this.emitWithAck('socket_site_status', r);
  }

  private emitWithAck(
    type: 'socket_training_progress' | 'socket_site_status',
    body: TrainingProgress | SiteStatusReport,
  ): Promise<RealtimeAck> {
    const s = this.socket;
    if (!s || !this.connected)
      return Promise.resolve({
        ok: false,
        error: { code: 'offline', message: 'not connected to the coordinator' },
      });
    const { event, payload } = this.client.egress.socketEvent(type, body);
    return new Promise((resolve) => {
      const t = setTimeout(
        () => resolve({ ok: false, error: { code: 'timeout', message: 'no ack within 10 s' } }),
        10_000,
      );
      // the event name and payload were checked against the egress allowlist just above
      s.emit(event as 'site.status', payload as SiteStatusReport, (ack: RealtimeAck) => {
        clearTimeout(t);
        resolve(ack);
      });
    });
  }

  private scheduleReconnect(why: string): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.o.backoff ?? { baseDelayMs: 500, maxDelayMs: 30_000 });
    this.o.log(`coordinator connection: ${printable(why)}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private connect(): void {
    if (this.stopped) return;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    const socket: FleetSocket = io(`${this.client.egress.coordinatorUrl}${REALTIME_NAMESPACE}`, {
      path: REALTIME_PATH,
      transports: ['websocket'],
      reconnection: false, // we reconnect ourselves, with a fresh token each time
      timeout: 10_000,
      // Through the CONNECT tunnel of HTTPS_PROXY when one applies (socket.io types it as string | boolean;
      // in Node it is handed to the ws client as its http.Agent).
      ...(this.client.egress.agent ? { agent: this.client.egress.agent as unknown as string } : {}),
      auth: (cb) => {
        this.client
          .accessToken()
          .then((token) => {
            const { payload } = this.client.egress.socketEvent('socket_connect', {
              token,
              protocolVersion: PROTOCOL_VERSION,
            });
            cb(payload as object);
          })
          .catch((e: unknown) => {
            if (e instanceof CoordinatorError && FINAL.has(e.code)) {
              this.final({ code: e.code, message: e.message });
              return;
            }
            cb({ token: '', protocolVersion: PROTOCOL_VERSION }); // refused quickly → connect_error → backoff
          });
      },
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.attempt = 0;
      this.connected = true;
      this.o.log('connected to the coordinator');
      this.o.onConnect?.();
    });
    socket.on('connect_error', (err: Error & { data?: RealtimeError }) => {
      this.connected = false;
      if (err.data && FINAL.has(err.data.code)) return this.final(err.data);
      if (err.data?.code === 'token_expired' || err.data?.code === 'invalid_token') this.client.dropToken();
      this.scheduleReconnect(err.data ? `${err.data.code}: ${err.data.message}` : err.message);
    });
    socket.on('session.ended', (e) => {
      if (FINAL.has(e.code)) this.final(e);
      else this.client.dropToken();
    });
    socket.on('disconnect', (reason) => {
      this.connected = false;
      if (!this.stopped) this.scheduleReconnect(`disconnected (${reason})`);
    });
    socket.on('bundle.published', (e) => this.o.onBundlePublished?.(e.version));
    socket.on('site.key_rotation_requested', (e) => this.o.onKeyRotationRequested?.(e?.requestedAt));
  }

  private final(e: RealtimeError): void {
    this.o.log(`the coordinator refuses this site: ${printable(e.code)}: ${printable(e.message)}`);
    this.stop();
    this.o.onFinal?.(e);
  }
}
