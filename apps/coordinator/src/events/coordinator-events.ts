import { Injectable, Logger } from '@nestjs/common';

/**
 * Things that happened inside the coordinator that other modules react to (bundle builder, socket gateway,
 * metrics). Emitted after the change is committed to the database.
 */
export type CoordinatorEvent =
  | { type: 'site.enrolled'; siteId: string }
  | { type: 'site.approved'; siteId: string }
  | { type: 'site.rejected'; siteId: string }
  /** The site's credentials stop working now: its sockets must be disconnected. */
  | { type: 'site.revoked'; siteId: string }
  /** One key stops working now: sockets authenticated with it must be disconnected. */
  | { type: 'site.key_revoked'; siteId: string; keyId: string }
  | { type: 'site.key_rotated'; siteId: string; newKeyId: string; oldKeyId: string | null }
  | { type: 'site.key_rotation_requested'; siteId: string; requestedAt: string }
  | { type: 'task.status_changed'; taskId: string; status: string; previous: string }
  | { type: 'adapter.uploaded'; adapterVersionId: string; taskId: string; siteId: string }
  | { type: 'adapter.approved'; adapterVersionId: string; taskId: string }
  | { type: 'adapter.rejected'; adapterVersionId: string; taskId: string }
  | { type: 'bundle.published'; version: number; contentHash: string; createdAt: string };

export type CoordinatorEventType = CoordinatorEvent['type'];
type EventOf<T extends CoordinatorEventType> = Extract<CoordinatorEvent, { type: T }>;
type Handler<T extends CoordinatorEventType> = (event: EventOf<T>) => void | Promise<void>;

/**
 * In-process event bus. `emit` awaits every handler (so, e.g., approving an adapter returns after the new
 * bundle is built); a failing handler is logged and never fails the emitter, whose change is already committed.
 * Handlers that must not be skipped also reconcile at startup (the bundle builder does).
 */
@Injectable()
export class CoordinatorEvents {
  private readonly logger = new Logger('Events');
  private readonly handlers = new Map<CoordinatorEventType, Set<Handler<CoordinatorEventType>>>();

  /** Subscribes; returns the unsubscribe function. */
  on<T extends CoordinatorEventType>(type: T, handler: Handler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as unknown as Handler<CoordinatorEventType>);
    return () => set.delete(handler as unknown as Handler<CoordinatorEventType>);
  }

  async emit(event: CoordinatorEvent): Promise<void> {
    const set = this.handlers.get(event.type);
    if (!set) return;
    await Promise.all(
      [...set].map(async (h) => {
        try {
          await h(event as EventOf<CoordinatorEventType>);
        } catch (e) {
          this.logger.error(`handler of ${event.type} failed: ${(e as Error).stack ?? String(e)}`);
        }
      }),
    );
  }
}
