/** The site agent's own version (sent at enrollment, shown by `status`). */
export const AGENT_VERSION = '0.1.0';
