import { BundleStore } from '../bundle/bundle-store';
import { BundleRefusedError, pullBundle } from '../bundle/pull-bundle';
import type { AgentContext } from '../use-cases/agent-context';
import { uploadAdapter } from '../use-cases/upload-adapter';
import { rotateSiteKey } from '../identity/key-rotation';
import { baseModelFingerprint } from '../model/engine-factory';
import { AGENT_VERSION } from '../version';
import { TaskStore } from '../tasks/local-task';
import { FleetConnection } from './fleet-connection';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RealtimeError } from '@casam/protocol';
import { printable } from '../cli/printable';

export interface DaemonOptions {
  log: (l: string) => void;
  chunkSize?: number;
}

/**
 * The long-running agent: keeps the coordinator connection, pulls every announced bundle (and whatever was
 * published while it was away, on each reconnect), and resumes unfinished uploads. Work runs one job at a time.
 */
export class AgentDaemon {
  readonly connection: FleetConnection;
  private queue: Promise<void> = Promise.resolve();
  private finalError: RealtimeError | null = null;
  /** The key-rotation request (its requestedAt) queued, running or done: each is handled once. */
  private rotationRequest: string | undefined;
  private done: (() => void) | null = null;
  readonly events: string[] = [];

  constructor(
    private readonly ctx: AgentContext,
    private readonly o: DaemonOptions,
  ) {
    this.connection = new FleetConnection(ctx.client, {
      log: o.log,
      onConnect: () => this.enqueue('catch-up', () => this.catchUp()),
      onBundlePublished: (v) => this.enqueue(`bundle ${v} announced`, () => this.pull()),
      onKeyRotationRequested: (requestedAt) => {
        // One request can arrive twice: live, and again on a connect that races it (the coordinator tells a
        // connecting site of an open request). Rotate once per request.
        if (requestedAt !== undefined && requestedAt === this.rotationRequest) return;
        this.rotationRequest = requestedAt;
        this.enqueue('key rotation', () => this.rotateKey());
      },
      onFinal: (e) => {
        this.finalError = e;
        this.done?.();
      },
    });
  }

  /** Runs until stop() or a final refusal; resolves with that refusal (or null). */
  run(): Promise<RealtimeError | null> {
    this.connection.start();
    return new Promise((resolve) => {
      this.done = () => resolve(this.finalError);
    });
  }

  async stop(): Promise<void> {
    this.connection.stop();
    await this.queue;
    this.done?.();
  }

  /** Resolves when the work queued so far has finished. */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(what: string, job: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      try {
        await job();
      } catch (e) {
        this.o.log(`${what}: ${printable((e as Error).message)}`);
      }
    });
  }

  private async catchUp(): Promise<void> {
    await this.pull();
    const store = new TaskStore(this.ctx.home);
    const tasksDir = join(this.ctx.home.dir, 'tasks');
    if (!existsSync(tasksDir)) return;
    for (const name of readdirSync(tasksDir)) {
      if (!store.exists(name)) continue;
      const t = store.read(name);
      if (t.upload && !t.upload.completedAt && t.training) {
        this.o.log(`resuming the upload of ${name}`);
        const msg = await uploadAdapter(this.ctx, name, this.o.chunkSize ?? 1024 * 1024, this.o.log);
        this.events.push(`upload:${name}`);
        this.o.log(msg);
      }
    }
  }

  /** An admin asked for a new site key: rotate, then reconnect so the socket runs on the new key. */
  private async rotateKey(): Promise<void> {
    const { home, client, identity } = this.ctx;
    const siteId = home.readState().siteId;
    if (!siteId) return;
    this.o.log('the coordinator asked this site to rotate its key');
    let rotated;
    try {
      rotated = await rotateSiteKey(home, client, siteId, identity, this.o.log);
    } catch (e) {
      this.rotationRequest = undefined; // failed: the same request, told again, is tried again
      throw e;
    }
    const { identity: next, result } = rotated;
    this.ctx.identity = next;
    this.events.push(`rotated:${result.fingerprint}`);
    this.o.log(`site key rotated: ${result.previousFingerprint} → ${result.fingerprint}`);
    this.connection.reconnect('the site key was rotated');
  }

  /** Tells the coordinator which agent and bundle this site runs (admins see it as presence). */
  private async reportStatus(): Promise<void> {
    const current = new BundleStore(this.ctx.home.bundlesDir).current();
    const ack = await this.connection.sendStatus({
      agentVersion: AGENT_VERSION,
      bundleVersion: current?.version ?? null,
    });
    if (!ack.ok && ack.error.code !== 'offline')
      this.o.log(`status report not accepted: ${printable(ack.error.code)}: ${printable(ack.error.message)}`);
  }

  private async pull(): Promise<void> {
    try {
      await this.pullOnce();
    } finally {
      await this.reportStatus();
    }
  }

  private async pullOnce(): Promise<void> {
    const { home, config, client } = this.ctx;
    try {
      const r = await pullBundle(
        client,
        new BundleStore(home.bundlesDir),
        home.readState(),
        baseModelFingerprint(home, config),
        this.o.log,
        (keys) =>
          home.updateState((s) => {
            s.coordinatorKeys = keys;
          }),
      );
      home.updateState((s) => {
        s.lastSyncAt = new Date().toISOString();
      });
      if (r.kind === 'installed') {
        this.events.push(`installed:${r.installed.version}`);
        this.o.log(`installed bundle ${r.installed.version} (${r.installed.taskCount} task(s))`);
      }
    } catch (e) {
      if (e instanceof BundleRefusedError) {
        this.events.push(`refused:${e.code}`);
        this.o.log(`bundle refused [${e.code}]: ${printable(e.message)}; the bundle in use stays`);
        return;
      }
      throw e;
    }
  }
}
