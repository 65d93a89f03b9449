import { DomainError } from '../../common/domain-error';

/** 429: too many attempts from this address (or at this account); `Retry-After` says when to try again. */
export class RateLimitedError extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', `too many attempts; try again in ${retryAfterSeconds} s`, 429, {
      retryAfterSeconds,
    });
  }
}
