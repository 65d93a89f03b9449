/** How many events one socket may send: `burst` at once, then `perMinute` on average. */
export interface SocketEventLimits {
  perMinute: number;
  burst: number;
}

/** A token bucket: `capacity` tokens, refilled continuously at `perMinute`. Times in ms from `now()`. */
class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly capacity: number,
    private readonly perMinute: number,
    private readonly now: () => number,
  ) {
    this.tokens = capacity;
    this.at = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.at) * this.perMinute) / 60_000);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * One socket's event budget. Each event a client sends takes a token: within the budget it is `accepted`;
 * over it, `refused` (dropped unprocessed, the client told to slow down). A client that keeps sending while
 * refused is `abusive` and gets disconnected: refusals draw on an allowance of `burst` that refills at `burst`
 * a minute, so a short overshoot is forgiven and a flood (or a steady double rate) is not.
 *
 * Per socket and in memory: a socket lives on one replica, and every event it sends arrives there.
 */
export class SocketEventBudget {
  private readonly events: TokenBucket;
  private readonly forgiven: TokenBucket;
  accepted = 0;
  refused = 0;

  constructor(
    readonly limits: SocketEventLimits,
    now: () => number,
  ) {
    this.events = new TokenBucket(limits.burst, limits.perMinute, now);
    this.forgiven = new TokenBucket(limits.burst, limits.burst, now);
  }

  take(): 'accepted' | 'refused' | 'abusive' {
    if (this.events.take()) {
      this.accepted++;
      return 'accepted';
    }
    this.refused++;
    return this.forgiven.take() ? 'refused' : 'abusive';
  }
}
