import { createHash } from 'node:crypto';
import { EXIT, UserError } from '../cli/errors';
import type { EgressLog } from '../egress/egress-log';
import type { AgentConfig } from '../home/agent-home';

/**
 * The PACS are local destinations, but a STOW-RS request carries patient data: the agent sends DICOM only to the
 * DICOMweb roots hospital IT listed in agent.json (`pacs.allowed`, set by `init --pacs` or by hand). A URL
 * under none of them is refused before any connection, and the refusal is in the egress log like every other.
 */
export function checkPacsAllowed(
  config: AgentConfig,
  url: string,
  type: 'pacs_qido' | 'pacs_wado' | 'pacs_stow',
  log: EgressLog,
): void {
  const allowed = config.pacs?.allowed ?? [];
  if (allowed.some((root) => isUnder(url, root))) return;
  const target = new URL(url);
  log.append({
    at: new Date(),
    type: `refused:${type}`,
    method: type === 'pacs_stow' ? 'POST' : 'GET',
    target: `${target.protocol}//${target.host}${target.pathname}`,
    bytes: 0,
    sha256: createHash('sha256').digest('hex'),
    outcome: 'refused: not a PACS in agent.json pacs.allowed',
  });
  throw new UserError(
    `${target.origin}${target.pathname} is not a PACS this agent may use: agent.json lists ` +
      (allowed.length ? allowed.join(', ') : 'none') +
      ' under pacs.allowed (add the DICOMweb root there, or run init --force --pacs <url>)',
    EXIT.usage,
  );
}

/** Same origin, and the path at or below the root's (`/dicom-web` covers `/dicom-web/…`, not `/dicom-webx`). */
export function isUnder(url: string, root: string): boolean {
  const u = new URL(url);
  const r = new URL(root);
  if (u.origin !== r.origin) return false;
  const base = r.pathname.replace(/\/+$/, '');
  const path = u.pathname.replace(/\/+$/, '');
  return path === base || path.startsWith(`${base}/`);
}

/** Problems of `pacs` in agent.json: `{ allowed: [DICOMweb root URL, …] }`, http(s), no credentials or query. */
export function pacsConfigProblems(pacs: unknown): string[] {
  if (pacs === undefined) return [];
  const allowed = (pacs as { allowed?: unknown } | null)?.allowed;
  if (!pacs || typeof pacs !== 'object' || !Array.isArray(allowed) || Object.keys(pacs).length !== 1)
    return ['pacs must be {allowed: [DICOMweb root URL, …]}'];
  const p: string[] = [];
  for (const a of allowed) {
    let u: URL | undefined;
    try {
      u = new URL(String(a));
    } catch {
      u = undefined;
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.username || u.password || u.search)
      p.push(
        `pacs.allowed: "${String(a).slice(0, 100)}" must be an http(s) URL without credentials or query`,
      );
  }
  return p;
}
