import type { TaskProgress } from '@casam/casam-core';
import type { TrainingProgress, TrainingStage } from '@casam/protocol';
import type { CoordinatorClient } from '../coordinator/coordinator-client';
import { FleetConnection } from './fleet-connection';

const STAGE: Record<TaskProgress['phase'], TrainingStage> = {
  embed: 'embedding',
  align: 'training_align',
  features: 'training_align',
  vae: 'training_vae',
  tau: 'calibrating',
  evaluate: 'evaluating',
  write: 'evaluating',
};

/**
 * Streams a local training run's progress to the coordinator (for the admins' view) while `train` runs:
 * stage, epoch and loss only — through the egress gateway like everything else. Best effort: when the
 * coordinator is unreachable the training goes on and nothing is queued.
 */
export class ProgressRelay {
  private readonly conn: FleetConnection;
  private lastSent = 0;
  private sending: Promise<unknown> = Promise.resolve();
  sent = 0;

  constructor(
    client: CoordinatorClient,
    private readonly taskId: string,
    log: (l: string) => void,
  ) {
    this.conn = new FleetConnection(client, {
      log: (l) => log(`progress relay: ${l}`),
      backoff: { baseDelayMs: 1000, maxDelayMs: 30_000 },
    });
  }

  start(): void {
    this.conn.start();
  }

  /** Maps a trainer progress report; sends at most one per second (phase changes always). */
  report(p: TaskProgress): void {
    const now = Date.now();
    const boundary = p.status !== 'progress';
    if (!boundary && now - this.lastSent < 1000) return;
    this.lastSent = now;
    const msg: TrainingProgress = {
      taskId: this.taskId,
      stage: STAGE[p.phase],
      epoch: p.align?.epoch ?? p.vae?.epoch ?? 0,
      epochs: p.align?.epochs ?? p.vae?.epochs ?? 0,
      ...(p.align?.loss !== undefined && Number.isFinite(p.align.loss) ? { loss: p.align.loss } : {}),
      ...(p.vae?.loss !== undefined && Number.isFinite(p.vae.loss) ? { loss: p.vae.loss } : {}),
    };
    this.send(msg);
  }

  finish(stage: 'done' | 'failed', metrics?: Record<string, number>): Promise<void> {
    this.send({ taskId: this.taskId, stage, epoch: 0, epochs: 0, ...(metrics ? { metrics } : {}) });
    return this.sending.then(() => this.conn.stop());
  }

  private send(msg: TrainingProgress): void {
    this.sending = this.sending.then(async () => {
      const ack = await this.conn.sendProgress(msg);
      if (ack.ok) this.sent++;
    });
  }
}
