import { EXIT, UserError } from '../cli/errors';

/**
 * The use cases that speak for the site (upload, pull, key rotation, the daemon) need an enrolled site. A
 * UserError, so every caller prints it the same way (exit 2); the daemon checks before it starts.
 */
export class SiteNotEnrolledError extends UserError {
  override name = 'SiteNotEnrolledError';
  constructor() {
    super('this site is not enrolled; run site-agent enroll first', EXIT.usage);
  }
}

/** The site id of an enrolled site; SiteNotEnrolledError otherwise. */
export function enrolledSiteId(state: { siteId?: string }): string {
  if (!state.siteId) throw new SiteNotEnrolledError();
  return state.siteId;
}
