/**
 * Use case: enroll the site — exchange the admin's one-time token for a site id, pin the coordinator's
 * bundle-signing keys — and learn the admin's decision (approve, reject, revoke), waiting for it if asked.
 * `site-agent enroll` calls both steps and prints between them (the fingerprint the admin must compare).
 * Errors: CoordinatorError (refused) and CoordinatorUnreachableError, as the client throws them.
 */
import { CoordinatorError, type CoordinatorClient } from '../coordinator/coordinator-client';
import { AGENT_VERSION } from '../version';
import type { AgentContext } from './agent-context';

export type EnrollmentDecision = 'pending' | 'approved' | 'rejected' | 'revoked';

export type EnrollResult =
  /** The token was exchanged now. */
  | { kind: 'enrolled'; siteId: string; pinnedKeys: number }
  /** The site already had a site id; no token was asked for. */
  | { kind: 'already-enrolled'; siteId: string };

/**
 * Enrolls the site unless it already is; `token` is asked for only then (it may read a file or stdin).
 * Records the site id, the key fingerprint and the pinned coordinator keys in state.json.
 */
export async function enrollSite(ctx: AgentContext, token: () => Promise<string>): Promise<EnrollResult> {
  const { home, config, client } = ctx;
  const state = home.readState();
  if (state.siteId) return { kind: 'already-enrolled', siteId: state.siteId };
  const enrollmentToken = await token();
  // Pin the coordinator's bundle-signing keys now: every bundle must later verify against them.
  const jwks = await client.jwks();
  const res = await client.enroll({
    enrollmentToken,
    siteName: config.siteName,
    agentVersion: AGENT_VERSION,
  });
  home.updateState((s) => {
    s.siteId = res.siteId;
    s.enrollment = {
      status: 'pending',
      keyFingerprint: res.keyFingerprint,
      enrolledAt: new Date().toISOString(),
    };
    s.coordinatorKeys = jwks.keys.map((k) => ({ kid: k.kid, x: k.x }));
  });
  return { kind: 'enrolled', siteId: res.siteId, pinnedKeys: jwks.keys.length };
}

/**
 * The admin's decision on this site, asked until it is made or `waitSeconds` have passed (0: asked once);
 * recorded in state.json. `onWait` is told once, before the first pause.
 */
export async function enrollmentDecision(
  ctx: AgentContext,
  waitSeconds: number,
  onWait: (waitSeconds: number) => void = () => undefined,
): Promise<EnrollmentDecision> {
  const status = await waitForDecision(ctx.client, waitSeconds, onWait);
  ctx.home.updateState((s) => {
    if (s.enrollment) {
      s.enrollment.status = status;
      s.enrollment.checkedAt = new Date().toISOString();
    }
  });
  return status;
}

/** Tries the token exchange until the site is approved (or refused), up to `waitS` seconds. */
async function waitForDecision(
  client: CoordinatorClient,
  waitS: number,
  onWait: (waitSeconds: number) => void,
): Promise<EnrollmentDecision> {
  const until = Date.now() + waitS * 1000;
  for (let i = 0; ; i++) {
    try {
      client.dropToken();
      await client.accessToken();
      return 'approved';
    } catch (e) {
      if (!(e instanceof CoordinatorError)) throw e;
      if (e.code === 'site_not_approved') {
        const st = (e.details?.['status'] ?? 'pending') as 'pending' | 'rejected' | 'revoked';
        if (st !== 'pending') return st;
      } else if (e.code === 'credentials_revoked') return 'revoked';
      else throw e;
    }
    if (Date.now() >= until) return 'pending';
    if (i === 0) onWait(waitS);
    await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, until - Date.now()))));
  }
}
