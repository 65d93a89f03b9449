/**
 * The site agent's own version (sent at enrollment and in every `site.status` report, shown by `status`).
 * 0.2.0 is the first release that reads adapter format 2 (decoder deltas); the coordinator warns admins about
 * sites older than that before they approve such an adapter (`ADAPTER_FORMAT_FIRST_AGENT_VERSION` in
 * libs/protocol).
 */
export const AGENT_VERSION = '0.2.0';
