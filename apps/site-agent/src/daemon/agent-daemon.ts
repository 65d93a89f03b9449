import { BundleRefusedError } from '../bundle/pull-bundle';
import type { AgentContext } from '../use-cases/agent-context';
import { rotateKey } from '../use-cases/rotate-key';
import { bundleInUse, syncBundle } from '../use-cases/sync-bundle';
import { uploadAdapter } from '../use-cases/upload-adapter';
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
        this.enqueue('key rotation', () => this.rotateOnRequest());
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
  private async rotateOnRequest(): Promise<void> {
    if (!this.ctx.home.readState().siteId) return;
    this.o.log('the coordinator asked this site to rotate its key');
    let result;
    try {
      result = await rotateKey(this.ctx, this.o.log);
    } catch (e) {
      this.rotationRequest = undefined; // failed: the same request, told again, is tried again
      throw e;
    }
    this.events.push(`rotated:${result.fingerprint}`);
    this.o.log(`site key rotated: ${result.previousFingerprint} → ${result.fingerprint}`);
    this.connection.reconnect('the site key was rotated');
  }

  /** Tells the coordinator which agent and bundle this site runs (admins see it as presence). */
  private async reportStatus(): Promise<void> {
    const current = bundleInUse(this.ctx.home);
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
    try {
      const r = await syncBundle(this.ctx, this.o.log);
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
