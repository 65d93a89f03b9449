import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { UploadSessionsService } from './upload-sessions.service';

/** How often expired uploads are swept (also once at start). */
export const UPLOAD_SWEEP_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Expires uploads not completed in time and deletes their chunks, at start and then periodically. Safe on
 * several replicas: each expiry is a compare-and-set, and a chunk blob another upload still uses is kept.
 */
@Injectable()
export class UploadSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Uploads');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly uploads: UploadSessionsService) {}

  onApplicationBootstrap(): void {
    this.trigger();
    this.timer = setInterval(() => this.trigger(), UPLOAD_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Before any shutdown hook closes the database. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Runs one sweep unless one is running; resolves when it is done. */
  trigger(): Promise<void> {
    this.running ??= this.uploads
      .sweepExpired()
      .then((n) => {
        if (n > 0) this.logger.log(`expired ${n} upload(s) and deleted their chunks`);
      })
      .catch((e: unknown) => this.logger.error(`upload sweep failed: ${(e as Error).stack ?? String(e)}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
