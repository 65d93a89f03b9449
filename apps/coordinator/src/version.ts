/** The coordinator's own version (reported by /healthz). */
export const COORDINATOR_VERSION = '0.1.0';
