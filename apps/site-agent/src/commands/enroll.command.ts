import { EXIT, UserError } from '../cli/errors';
import {
  type CoordinatorClient,
  CoordinatorError,
  CoordinatorUnreachableError,
} from '../coordinator/coordinator-client';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION, openAgent } from './agent-context';
import { AGENT_VERSION } from '../version';

export const enrollCommand: Command = {
  name: 'enroll',
  summary: 'register the site key with the coordinator (one-time token); report or wait for approval',
  usage: `site-agent enroll --token <cset_…> [--wait <seconds>] [--home <dir>]
  --token <token>           one-time enrollment token from the federation admin
  --wait <seconds>          after enrolling (or if already enrolled), wait up to this long for the admin's decision
${HOME_HELP}`,
  options: { ...HOME_OPTION, token: { type: 'string' }, wait: { type: 'string' } },
  async run(v, log) {
    const { home, config, identity, client } = await openAgent(v.string('home'));
    const waitS = v.string('wait') === undefined ? 0 : Number(v.string('wait'));
    if (!Number.isFinite(waitS) || waitS < 0)
      throw new UserError('--wait must be a number of seconds', EXIT.usage);
    let state = home.readState();
    try {
      if (!state.siteId) {
        const token = v.string('token', true);
        // Pin the coordinator's bundle-signing keys now: every bundle must later verify against them.
        const jwks = await client.jwks();
        const res = await client.enroll({
          enrollmentToken: token,
          siteName: config.siteName,
          agentVersion: AGENT_VERSION,
        });
        state = home.updateState((s) => {
          s.siteId = res.siteId;
          s.enrollment = {
            status: 'pending',
            keyFingerprint: res.keyFingerprint,
            enrolledAt: new Date().toISOString(),
          };
          s.coordinatorKeys = jwks.keys.map((k) => ({ kid: k.kid, x: k.x }));
        });
        log(
          `enrolled "${config.siteName}" as site ${res.siteId}; pinned ${jwks.keys.length} coordinator signing key(s)`,
        );
      } else log(`already enrolled as site ${state.siteId}`);
      console.log(`site key fingerprint: ${identity.fingerprint}`);
      console.log(
        'give this fingerprint to the federation admin (by phone or in person); they must see the same one to approve',
      );
      const status = await waitForDecision(client, waitS, log);
      home.updateState((s) => {
        if (s.enrollment) {
          s.enrollment.status = status;
          s.enrollment.checkedAt = new Date().toISOString();
        }
      });
      console.log(`enrollment: ${status}`);
      if (status === 'rejected' || status === 'revoked')
        throw new UserError(
          `the coordinator says this site is ${status}; contact the federation admin`,
          EXIT.input,
        );
    } catch (e) {
      if (e instanceof CoordinatorError) throw new UserError(`coordinator refused: ${e.message}`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError) throw new UserError(e.message, EXIT.backend);
      throw e;
    }
  },
};

/** Tries the token exchange until the site is approved (or refused), up to `waitS` seconds. */
async function waitForDecision(
  client: CoordinatorClient,
  waitS: number,
  log: (l: string) => void,
): Promise<'pending' | 'approved' | 'rejected' | 'revoked'> {
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
    if (i === 0) log(`waiting up to ${waitS} s for the admin's decision…`);
    await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, until - Date.now()))));
  }
}
