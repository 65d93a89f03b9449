/**
 * Use case: replace the site's key — a new one registered with the coordinator (proof of possession,
 * authenticated with the current key) and swapped in; the previous key keeps working for its grace period.
 * An interrupted rotation is finished. `site-agent rotate-key` and the daemon (when an admin asks) call it;
 * afterwards the context's identity and client sign with the new key.
 * Errors: CoordinatorError (refused), CoordinatorUnreachableError (the current key stays in use).
 */
import { type KeyRotationResult, rotateSiteKey } from '../identity/key-rotation';
import type { AgentContext } from './agent-context';
import { enrolledSiteId } from './use-case-errors';

export type { KeyRotationResult };

export async function rotateKey(ctx: AgentContext, log: (l: string) => void): Promise<KeyRotationResult> {
  const siteId = enrolledSiteId(ctx.home.readState());
  const { identity, result } = await rotateSiteKey(ctx.home, ctx.client, siteId, ctx.identity, log);
  ctx.identity = identity;
  return result;
}
