/**
 * Exit codes of every command-line tool of the federation: `site-agent`, `coordinator` and the scripts
 * (`npm run pretrain`, `pack:*`, …). One table, so a code means the same everywhere and service managers and
 * scripts can act on it (docs/site-agent.md, docs/coordinator.md and the README list them). Depends on nothing.
 */
export const EXIT_CODES = Object.freeze({
  /** Done. */
  ok: 0,
  /** Internal error: a bug (a stack trace is printed). */
  internal: 1,
  /** Usage or configuration error, or a file or folder this user may not write. */
  usage: 2,
  /** Bad input, or a request refused (by the coordinator; by the coordinator's own rules: email taken…). */
  input: 3,
  /** The site agent's and the scripts' model or checkpoint cannot be used. */
  model: 4,
  /** The coordinator's database cannot be used (held by a running coordinator, a failed migration). */
  database: 4,
  /** A backend, engine or the coordinator is unavailable. */
  backend: 5,
  /** A `preflight` check failed. */
  preflight: 6,
  /** Interrupted (Ctrl-C); training resumes when rerun. */
  interrupted: 130,
});

export type ExitCodeName = keyof typeof EXIT_CODES;
export type ExitCode = (typeof EXIT_CODES)[ExitCodeName];
