import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import {
  checkProtocolCompatibility,
  type ClientToServerEvents,
  REALTIME_NAMESPACE,
  REALTIME_PATH,
  type RealtimeAck,
  type RealtimeError,
  type ServerToClientEvents,
  type SiteStatusReport,
  siteStatusReportProblems,
  type TrainingProgress,
  trainingProgressProblems,
} from '@casam/protocol';
import { AuditService } from '../audit/audit.service';
import { type AccessTokenClaims, AccessTokenService } from '../auth/access-token.service';
import type { Principal } from '../auth/principal';
import { PrincipalResolver } from '../auth/principal-resolver';
import { clientAddress } from '../auth/request-meta';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { storableText } from '../common/storable-text';
import { COORDINATOR_CONFIG } from '../config/config.module';
import type { CoordinatorConfig } from '../config/coordinator-config';
import { CoordinatorEvents } from '../events/coordinator-events';
import { MetricsService } from '../metrics/metrics.service';
import { SiteRepository } from '../sites/site.repository';
import { CoalescingWriter } from './coalescing-writer';
import { REPLICA_REQUEST_TIMEOUT_MS, RealtimeCluster } from './realtime-cluster';
import { RealtimeRepository } from './realtime.repository';
import { SocketEventBudget } from './socket-event-budget';

/** What the gateway keeps on each authenticated socket. */
interface SocketData {
  principal: Principal;
  claims: AccessTokenClaims;
  protocolVersion: string;
  address: string | null;
  /** Tasks this site may report progress for (checked once per socket and task). */
  progressTasks: Set<string>;
}

/** Which sockets to end on every replica (a revoked site, a revoked key). */
type EndFilter = { siteId: string } | { keyId: string };

/** What replicas tell each other (socket.io serverSideEmit through the Postgres adapter). */
interface ReplicaEvents {
  'replica.end_sockets': (filter: EndFilter, why: RealtimeError) => void;
}

type FleetNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, ReplicaEvents, SocketData>;
type FleetSocket = Socket<ClientToServerEvents, ServerToClientEvents, ReplicaEvents, SocketData>;

/** How often every socket's principal is checked again (disabled admins, keys rotated out, demotions). */
export const PRINCIPAL_RECHECK_INTERVAL_MS = 60_000;

/**
 * A site's status report equal to the last one stored less than this long ago is acknowledged without being
 * written or announced again (its last-seen time is refreshed every minute anyway, by the re-check).
 */
export const STATUS_REFRESH_MS = 60_000;

export const ADMINS_ROOM = 'admins';
export const siteRoom = (siteId: string): string => `site:${siteId}`;
export const adminRoom = (adminId: string): string => `admin:${adminId}`;

class ConnectRefusal extends Error {
  constructor(readonly data: RealtimeError) {
    super(data.message);
  }
}

/**
 * The real-time channel (socket.io, path /socket.io, namespace /v1). Sockets authenticate on connect with an
 * access token through the same PrincipalResolver as REST, and join `site:<id>`, or `admins` and
 * `admin:<id>`. They are dropped when the token expires, when the site or its key is revoked (at once, on
 * the event), or when the periodic re-check finds the principal no longer valid.
 */
@WebSocketGateway({ path: REALTIME_PATH, namespace: REALTIME_NAMESPACE, serveClient: false })
export class FleetGateway
  implements
    OnGatewayInit<FleetNamespace>,
    OnGatewayConnection<FleetSocket>,
    OnGatewayDisconnect<FleetSocket>,
    OnModuleDestroy
{
  private readonly logger = new Logger('Realtime');
  private nsp?: FleetNamespace;
  private readonly siteSockets = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];
  private recheckTimer?: NodeJS.Timeout;
  /**
   * Each socket's token-expiry timer. Kept out of `socket.data`, which the other replicas receive as JSON when
   * they ask for a room's sockets (a timer is circular: the whole cluster query would fail).
   */
  private readonly expiryTimers = new WeakMap<FleetSocket, NodeJS.Timeout>();
  /** Set when the app shuts down: its sockets are about to reconnect elsewhere, so no presence is recorded. */
  private closing = false;
  /** Each socket's event budget (local, like the timers: a socket's events all arrive on this replica). */
  private readonly budgets = new WeakMap<FleetSocket, SocketEventBudget>();
  /** Sockets disconnected for abuse: whatever they still had in flight is dropped. */
  private readonly cutOff = new WeakSet<FleetSocket>();
  /**
   * Status reports per site, written one at a time and only the latest: a burst of `site.status` costs at most
   * two database writes and two admin broadcasts, not one each.
   */
  private readonly statusWriter = new CoalescingWriter<SiteStatusReport>({
    write: (siteId, report) => this.writeStatus(siteId, report),
    equal: (a, b) => a.agentVersion === b.agentVersion && a.bundleVersion === b.bundleVersion,
    refreshMs: STATUS_REFRESH_MS,
    now: () => this.clock.now().getTime(),
  });

  constructor(
    private readonly tokens: AccessTokenService,
    private readonly resolver: PrincipalResolver,
    private readonly sites: SiteRepository,
    private readonly repo: RealtimeRepository,
    private readonly events: CoordinatorEvents,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
    private readonly cluster: RealtimeCluster,
    private readonly audit: AuditService,
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
  ) {}

  afterInit(nsp: FleetNamespace): void {
    this.nsp = nsp;
    this.cluster.attach(nsp);
    nsp.on('replica.end_sockets', (filter, why) => this.end(matching(filter), why));
    nsp.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (e: unknown) => {
          const data = refusalOf(e);
          if (!(e instanceof ConnectRefusal) && !(e instanceof DomainError))
            this.logger.error(`socket authentication failed: ${(e as Error).stack ?? String(e)}`);
          next(Object.assign(new Error(data.message), { data }));
        },
      );
    });
    this.unsubscribe.push(
      this.events.on('bundle.published', (e) => {
        this.send(nsp, 'bundle.published', {
          version: e.version,
          contentHash: e.contentHash,
          createdAt: e.createdAt,
          announcedAt: this.clock.now().toISOString(),
        });
      }),
      this.events.on('task.status_changed', async (e) => {
        const proposer = await this.repo.taskProposer(e.taskId);
        const target = proposer ? nsp.to(ADMINS_ROOM).to(siteRoom(proposer)) : nsp.to(ADMINS_ROOM);
        target.emit('task.status_changed', {
          taskId: e.taskId,
          status: e.status,
          previous: e.previous,
          at: this.now(),
        });
        this.metrics.socketEvents.inc({ event: 'task.status_changed', direction: 'out' });
      }),
      this.events.on('site.revoked', (e) =>
        this.endEverywhere(
          { siteId: e.siteId },
          { code: 'credentials_revoked', message: 'this site was revoked' },
        ),
      ),
      this.events.on('site.key_rotation_requested', (e) => {
        nsp.to(siteRoom(e.siteId)).emit('site.key_rotation_requested', { requestedAt: e.requestedAt });
        this.metrics.socketEvents.inc({ event: 'site.key_rotation_requested', direction: 'out' });
      }),
      this.events.on('site.key_revoked', (e) =>
        this.endEverywhere(
          { keyId: e.keyId },
          { code: 'credentials_revoked', message: 'the key this session was opened with was revoked' },
        ),
      ),
    );
    this.recheckTimer = setInterval(() => {
      this.recheckAll().catch((e: unknown) => this.logger.error(`principal re-check failed: ${String(e)}`));
    }, PRINCIPAL_RECHECK_INTERVAL_MS);
    this.recheckTimer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    for (const off of this.unsubscribe.splice(0)) off();
    clearInterval(this.recheckTimer);
    await this.cluster.close(this.nsp);
  }

  async handleConnection(socket: FleetSocket): Promise<void> {
    const { principal } = socket.data;
    const kind = principal.kind;
    this.metrics.socketConnections.inc({ kind });
    // Before any handler: every event the client sends (known or not) is counted against its budget.
    this.budgets.set(
      socket,
      new SocketEventBudget(this.config.socketEvents, () => this.clock.now().getTime()),
    );
    socket.use((packet, next) => this.admit(socket, packet, next));
    const expiresIn = socket.data.claims.exp * 1000 - this.clock.now().getTime();
    this.expiryTimers.set(
      socket,
      setTimeout(
        () =>
          this.endOne(socket, {
            code: 'token_expired',
            message: 'the access token expired; reconnect with a new one',
          }),
        expiresIn,
      ),
    );
    socket.on('training.progress', (progress, ack) => {
      this.onProgress(socket, progress, ack).catch((e: unknown) => {
        this.logger.error(`training.progress failed: ${(e as Error).stack ?? String(e)}`);
        reply(ack, { ok: false, error: { code: 'internal_error', message: 'internal server error' } });
      });
    });
    socket.on('site.status', (report, ack) => {
      this.onStatus(socket, report, ack).catch((e: unknown) => {
        this.logger.error(`site.status failed: ${(e as Error).stack ?? String(e)}`);
        reply(ack, { ok: false, error: { code: 'internal_error', message: 'internal server error' } });
      });
    });
    if (principal.kind === 'admin') {
      await socket.join([ADMINS_ROOM, adminRoom(principal.adminId)]);
      return;
    }
    await socket.join(siteRoom(principal.siteId));
    const count = (this.siteSockets.get(principal.siteId) ?? 0) + 1;
    this.siteSockets.set(principal.siteId, count);
    if (count === 1)
      await this.presence(principal.siteId, true, socket.data).catch((e: unknown) =>
        this.logger.error(`presence of site ${principal.siteId} not recorded: ${String(e)}`),
      );
    // a rotation asked for while the site was offline: tell it now
    const requestedAt = await this.repo.keyRotationRequestedAt(principal.siteId);
    if (requestedAt) socket.emit('site.key_rotation_requested', { requestedAt: requestedAt.toISOString() });
  }

  async handleDisconnect(socket: FleetSocket): Promise<void> {
    const data = socket.data as Partial<SocketData>;
    if (!data.principal) return; // refused during the handshake: never counted
    clearTimeout(this.expiryTimers.get(socket));
    this.expiryTimers.delete(socket);
    this.metrics.socketConnections.dec({ kind: data.principal.kind });
    // shutting down (a rolling upgrade): the site is about to reconnect to another replica, and the database
    // closes right after the sockets, so no "offline" is recorded or announced
    if (data.principal.kind !== 'site' || this.closing) return;
    const siteId = data.principal.siteId;
    const count = (this.siteSockets.get(siteId) ?? 1) - 1;
    if (count > 0) this.siteSockets.set(siteId, count);
    else {
      this.siteSockets.delete(siteId);
      // back online later: its first report is stored and announced whatever it says
      this.statusWriter.forget(siteId);
      // still connected through another replica: still online
      if (await this.connectedElsewhere(siteId)) return;
      await this.presence(siteId, false, socket.data).catch((e: unknown) =>
        this.logger.error(`presence of site ${siteId} not recorded: ${String(e)}`),
      );
    }
  }

  /**
   * Re-resolves every socket's principal and drops those no longer valid; refreshes the presence (last seen) of
   * the sites still connected. Runs every minute.
   */
  async recheckAll(): Promise<void> {
    if (!this.nsp) return;
    const seen = new Map<string, SocketData>();
    for (const socket of this.nsp.sockets.values()) {
      if (!socket.data.principal) continue;
      try {
        socket.data.principal = await this.resolver.resolveClaims(socket.data.claims);
        if (socket.data.principal.kind === 'site') seen.set(socket.data.principal.siteId, socket.data);
      } catch (e) {
        this.endOne(socket, refusalOf(e));
      }
    }
    const at = this.clock.now();
    for (const [siteId, data] of seen) await this.sites.recordPresence(siteId, { at, address: data.address });
  }

  private async authenticate(socket: FleetSocket): Promise<void> {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const token = auth['token'];
    if (typeof token !== 'string' || token === '')
      throw new ConnectRefusal({
        code: 'missing_token',
        message: 'connect with auth: {token, protocolVersion}',
      });
    const version = auth['protocolVersion'];
    if (typeof version !== 'string')
      throw new ConnectRefusal({
        code: 'protocol_invalid',
        message:
          'connect with auth.protocolVersion: the protocol version the client speaks (MAJOR.MINOR.PATCH)',
      });
    const check = checkProtocolCompatibility(version);
    if (!check.ok) throw new ConnectRefusal({ code: check.code, message: check.message });
    const claims = await this.tokens.verify(token);
    if (claims.exp * 1000 <= this.clock.now().getTime())
      throw new ConnectRefusal({ code: 'token_expired', message: 'access token has expired; get a new one' });
    const principal = await this.resolver.resolveClaims(claims);
    socket.data = {
      principal,
      claims,
      protocolVersion: version,
      address: clientAddress(socket.request),
      progressTasks: new Set(),
    };
  }

  private async onProgress(socket: FleetSocket, progress: unknown, ack: unknown): Promise<void> {
    this.metrics.socketEvents.inc({ event: 'training.progress', direction: 'in' });
    const { principal } = socket.data;
    if (principal.kind !== 'site') {
      reply(ack, { ok: false, error: { code: 'forbidden', message: 'only sites report training progress' } });
      return;
    }
    const problems = trainingProgressProblems(progress);
    if (problems.length > 0) {
      reply(ack, {
        ok: false,
        error: { code: 'invalid_progress', message: `invalid training progress: ${problems.join('; ')}` },
      });
      return;
    }
    const p = progress as TrainingProgress;
    if (!socket.data.progressTasks.has(p.taskId)) {
      if (!(await this.repo.siteWorksOnTask(principal.siteId, p.taskId))) {
        reply(ack, {
          ok: false,
          error: {
            code: 'task_not_yours',
            message: `task ${p.taskId} does not exist or this site does not contribute to it`,
          },
        });
        return;
      }
      socket.data.progressTasks.add(p.taskId);
    }
    const { taskId, stage, epoch, epochs, loss, metrics } = p;
    this.nsp?.to(ADMINS_ROOM).emit('training.progress', {
      taskId,
      stage,
      epoch,
      epochs,
      ...(loss !== undefined ? { loss } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
      siteId: principal.siteId,
      at: this.now(),
    });
    this.metrics.socketEvents.inc({ event: 'training.progress', direction: 'out' });
    reply(ack, { ok: true });
  }

  private async onStatus(socket: FleetSocket, report: unknown, ack: unknown): Promise<void> {
    this.metrics.socketEvents.inc({ event: 'site.status', direction: 'in' });
    const { principal } = socket.data;
    if (principal.kind !== 'site') {
      reply(ack, { ok: false, error: { code: 'forbidden', message: 'only sites report their status' } });
      return;
    }
    const problems = siteStatusReportProblems(report);
    if (problems.length > 0) {
      reply(ack, {
        ok: false,
        error: { code: 'invalid_status', message: `invalid site status: ${problems.join('; ')}` },
      });
      return;
    }
    const { agentVersion, bundleVersion } = report as SiteStatusReport;
    await this.statusWriter.submit(principal.siteId, { agentVersion, bundleVersion });
    reply(ack, { ok: true });
  }

  /** Stores a site's (latest) status report and shows it to the admins. */
  private async writeStatus(
    siteId: string,
    { agentVersion, bundleVersion }: SiteStatusReport,
  ): Promise<void> {
    const at = this.clock.now();
    await this.sites.recordStatusReport(siteId, { at, agentVersion, bundleVersion });
    this.nsp?.to(ADMINS_ROOM).emit('site.presence', {
      siteId,
      online: true,
      at: at.toISOString(),
      agentVersion,
      bundleVersion,
    });
    this.metrics.socketEvents.inc({ event: 'site.presence', direction: 'out' });
  }

  /**
   * socket.io middleware of every socket: an event within the socket's budget goes on to its handler; over the
   * budget it is dropped unprocessed (an ack, if asked for, says `rate_limited`); a socket that keeps sending
   * over it is ended and the cut is audited. Nothing a client sends can make the coordinator do unbounded work.
   */
  private admit(socket: FleetSocket, packet: unknown[], next: (err?: Error) => void): void {
    if (this.cutOff.has(socket)) return;
    const budget = this.budgets.get(socket);
    const verdict = budget ? budget.take() : 'accepted';
    if (verdict === 'accepted') {
      next();
      return;
    }
    const { limits } = budget!;
    const kind = socket.data.principal.kind;
    this.metrics.socketEventsRefused.inc({ kind });
    if (verdict === 'refused') {
      reply(packet[packet.length - 1], {
        ok: false,
        error: {
          code: 'rate_limited',
          message: `too many events on this connection: at most ${limits.burst} at once and ${limits.perMinute} a minute; this one was dropped`,
        },
      });
      return;
    }
    this.cutOff.add(socket);
    this.metrics.socketsCut.inc({ kind });
    const p = socket.data.principal;
    const who = p.kind === 'site' ? `site ${p.siteId}` : `admin ${p.adminId}`;
    this.logger.warn(
      `${who} disconnected: kept sending events over its budget (${budget!.accepted} accepted, ${budget!.refused} refused)`,
    );
    this.endOne(socket, {
      code: 'rate_limited',
      message: `too many events on this connection (over ${limits.burst} at once or ${limits.perMinute} a minute, and more after being told); reconnect and slow down`,
    });
    this.audit
      .record({
        actorType: p.kind,
        actorId: p.kind === 'site' ? p.siteId : p.adminId,
        action: 'realtime.rate_limited',
        outcome: 'denied',
        targetType: 'socket',
        targetId: socket.id,
        siteId: p.kind === 'site' ? p.siteId : null,
        address: socket.data.address,
        correlationId: null,
        details: {
          // the event name is the client's: kept short and storable
          lastEvent: storableText(String(packet[0]).slice(0, 64)),
          accepted: budget!.accepted,
          refused: budget!.refused,
          perMinute: limits.perMinute,
          burst: limits.burst,
        },
        createdAt: this.clock.now(),
      })
      .catch((e: unknown) => this.logger.error(`socket cut-off not audited: ${String(e)}`));
  }

  private async presence(siteId: string, online: boolean, data: SocketData): Promise<void> {
    const at = this.clock.now();
    await this.sites.recordPresence(siteId, {
      at,
      address: data.address,
      ...(online ? { protocolVersion: data.protocolVersion } : {}),
    });
    this.nsp?.to(ADMINS_ROOM).emit('site.presence', { siteId, online, at: at.toISOString() });
    this.metrics.socketEvents.inc({ event: 'site.presence', direction: 'out' });
  }

  /**
   * Whether the site still has a socket on another replica (asked through the adapter). When the others do not
   * answer in time the answer is no: offline, and the site's next connect or status report says online again.
   */
  private async connectedElsewhere(siteId: string): Promise<boolean> {
    if (!this.cluster.clustered || !this.nsp) return false;
    try {
      const sockets = await this.nsp.in(siteRoom(siteId)).timeout(REPLICA_REQUEST_TIMEOUT_MS).fetchSockets();
      return sockets.length > 0;
    } catch (e) {
      this.logger.warn(`could not ask the other replicas about site ${siteId}: ${String(e)}`);
      return false;
    }
  }

  /** Ends the matching sockets on this replica and, through the adapter, on every other one. */
  private endEverywhere(filter: EndFilter, why: RealtimeError): void {
    this.end(matching(filter), why);
    if (this.cluster.clustered) this.nsp?.serverSideEmit('replica.end_sockets', filter, why);
  }

  /** Ends every local socket matching `which`. */
  private end(which: (s: FleetSocket) => boolean, why: RealtimeError): void {
    if (!this.nsp) return;
    for (const socket of this.nsp.sockets.values())
      if (socket.data.principal && which(socket)) this.endOne(socket, why);
  }

  private endOne(socket: FleetSocket, why: RealtimeError): void {
    socket.emit('session.ended', why);
    socket.disconnect(true);
  }

  private send<E extends keyof ServerToClientEvents>(
    nsp: FleetNamespace,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    nsp.emit(event, ...args);
    this.metrics.socketEvents.inc({ event, direction: 'out' });
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function matching(filter: EndFilter): (s: FleetSocket) => boolean {
  return (s) => {
    const p = s.data.principal;
    if (p.kind !== 'site') return false;
    return 'siteId' in filter ? p.siteId === filter.siteId : p.keyId === filter.keyId;
  };
}

function refusalOf(e: unknown): RealtimeError {
  if (e instanceof ConnectRefusal) return e.data;
  if (e instanceof DomainError) return { code: e.code, message: e.message };
  return { code: 'internal_error', message: 'internal server error' };
}

function reply(ack: unknown, result: RealtimeAck): void {
  if (typeof ack === 'function') (ack as (r: RealtimeAck) => void)(result);
}
