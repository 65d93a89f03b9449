interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

interface Batch<V> {
  value: V;
  waiters: Waiter[];
}

interface KeyState<V> {
  /** The write under way. */
  inflight?: Batch<V>;
  /** What to write when it is done: the latest value submitted meanwhile. */
  pending?: Batch<V>;
  /** The last value written, and when. */
  last?: { value: V; at: number };
}

export interface CoalescingWriterOptions<V> {
  write(key: string, value: V): Promise<void>;
  equal(a: V, b: V): boolean;
  /** A value equal to the last one written less than this long ago is not written again. */
  refreshMs: number;
  now(): number;
}

/**
 * Writes per key (a site) one at a time, and only what still matters: a value submitted while a write of the
 * key is under way waits for it and replaces any other waiting value (the latest wins: one write for all of
 * them); a value equal to the one being written joins that write; a value equal to the last one written, within
 * `refreshMs`, is not written at all. Every `submit` resolves once a write that covers its value (or a newer
 * one) has finished, and rejects if that write fails. So a burst of reports from one site costs at most two
 * writes (the one under way and the latest), not one per report.
 */
export class CoalescingWriter<V> {
  private readonly keys = new Map<string, KeyState<V>>();

  constructor(private readonly o: CoalescingWriterOptions<V>) {}

  submit(key: string, value: V): Promise<void> {
    let s = this.keys.get(key);
    if (!s) this.keys.set(key, (s = {}));
    const state = s;
    if (!state.inflight && state.last && this.o.equal(state.last.value, value))
      if (this.o.now() - state.last.at < this.o.refreshMs) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (state.pending) {
        state.pending.value = value;
        state.pending.waiters.push(waiter);
      } else if (state.inflight && this.o.equal(state.inflight.value, value)) {
        state.inflight.waiters.push(waiter);
      } else if (state.inflight) {
        state.pending = { value, waiters: [waiter] };
      } else {
        state.inflight = { value, waiters: [waiter] };
        void this.drain(key, state);
      }
    });
  }

  /** Writes the key's batches one after another until none is waiting. */
  private async drain(key: string, s: KeyState<V>): Promise<void> {
    while (s.inflight) {
      const batch = s.inflight;
      try {
        await this.o.write(key, batch.value);
        s.last = { value: batch.value, at: this.o.now() };
        for (const w of batch.waiters) w.resolve();
      } catch (e) {
        for (const w of batch.waiters) w.reject(e);
      }
      s.inflight = s.pending;
      s.pending = undefined;
    }
  }

  /** Forgets a key (its site went offline): its next value is written whatever it is. */
  forget(key: string): void {
    const s = this.keys.get(key);
    if (s && !s.inflight) this.keys.delete(key);
  }
}
