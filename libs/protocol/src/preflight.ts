/**
 * The report shape of `site-agent preflight` and `coordinator preflight`: one result per check, printed as one
 * line (with what to fix on the next) or, with `--json`, as these objects. Depends on nothing.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of a preflight report: what was checked, how it went, and what to do about it. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What the operator should do (warn and fail only). */
  fix?: string;
}

/** Constructors for the four outcomes. */
export const preflightCheck = {
  ok: (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail }),
  warn: (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix }),
  fail: (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix }),
  skip: (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail }),
};

/** `ok    name        detail`, and `→ fix` on a second line when there is one. */
export function formatCheck(c: CheckResult): string {
  const line = `${c.status.padEnd(4)}  ${c.name.padEnd(11)} ${c.detail}`;
  return c.fix ? `${line}\n      ${''.padEnd(11)} → ${c.fix}` : line;
}

/**
 * The whole report as a tool prints it: `{ok, checks}` as JSON, or one line per check and a summary line. With
 * the failed checks, for the exit code.
 */
export function preflightReport(
  checks: CheckResult[],
  json: boolean,
): { text: string; failed: CheckResult[] } {
  const failed = checks.filter((c) => c.status === 'fail');
  if (json) return { text: JSON.stringify({ ok: failed.length === 0, checks }, null, 2), failed };
  const warned = checks.filter((c) => c.status === 'warn').length;
  const summary = failed.length
    ? `preflight: ${failed.length} check(s) failed (${failed.map((c) => c.name).join(', ')}), ${warned} warning(s)`
    : `preflight: all checks passed${warned ? ` (${warned} warning(s))` : ''}`;
  return { text: [...checks.map(formatCheck), summary].join('\n'), failed };
}
