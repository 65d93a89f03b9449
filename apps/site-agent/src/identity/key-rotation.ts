import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { RotateSiteKeyResponse, SiteSummary } from '@casam/protocol';
import { writeFileAtomic } from '@casam/casam-core';
import type { CoordinatorClient } from '../coordinator/coordinator-client';
import type { AgentHome } from '../home/agent-home';
import { SiteIdentity } from './site-identity';

export interface KeyRotationResult {
  fingerprint: string;
  previousFingerprint: string;
  /** When the coordinator stops accepting the previous key (null when the rotation was finished from a crash). */
  previousNotAfter: string | null;
  /** True when an interrupted rotation (new key registered, files not swapped yet) was finished. */
  resumed: boolean;
}

/**
 * Rotates the site's key with no window where neither key works:
 *  1. a new key pair is written to `keys/site-key.next.jwk` (0600) — or the one an interrupted rotation left;
 *  2. the coordinator registers it (`POST /api/v1/sites/me/keys`, authenticated with the current key, with a
 *     proof signed by the new key); the current key keeps working for its grace period;
 *  3. the current key is copied to `site-key.previous.jwk` and the new one renamed over `site-key.jwk`.
 * A crash between 2 and 3 is healed on the next run: the coordinator already lists the new key as active, so
 * only the files are swapped. The client signs with the new key from then on.
 */
export async function rotateSiteKey(
  home: AgentHome,
  client: CoordinatorClient,
  siteId: string,
  current: SiteIdentity,
  log: (l: string) => void,
): Promise<{ identity: SiteIdentity; result: KeyRotationResult }> {
  let next: SiteIdentity;
  let resumed = false;
  if (existsSync(home.nextKeyFile)) {
    next = await SiteIdentity.load(home.nextKeyFile);
    const me = await client.json<SiteSummary>(
      'read_site',
      { path: '/api/v1/sites/me' },
      { idempotent: true },
    );
    if (me.keys.some((k) => k.fingerprint === next.fingerprint && k.status === 'active')) {
      log(`finishing an interrupted key rotation: ${next.fingerprint} is already registered`);
      resumed = true;
    }
  } else {
    next = await SiteIdentity.generate(home.nextKeyFile);
    log(`generated a new site key ${next.fingerprint}`);
  }
  let previousNotAfter: string | null = null;
  if (!resumed) {
    const res = await client.json<RotateSiteKeyResponse>('key_rotation', {
      path: '/api/v1/sites/me/keys',
      body: { publicJwk: next.publicJwk, proof: await next.rotationProof(siteId) },
    });
    previousNotAfter = res.previousKey.notAfter;
    log(
      `the coordinator registered ${res.key.fingerprint}; the previous key works until ${previousNotAfter ?? '(no limit)'}`,
    );
  }
  writeFileAtomic(home.previousKeyFile, readFileSync(home.keyFile), 0o600);
  renameSync(home.nextKeyFile, home.keyFile);
  const identity = await SiteIdentity.load(home.keyFile);
  client.setIdentity(identity);
  home.updateState((s) => {
    if (s.enrollment) s.enrollment.keyFingerprint = identity.fingerprint;
  });
  return {
    identity,
    result: {
      fingerprint: identity.fingerprint,
      previousFingerprint: current.fingerprint,
      previousNotAfter,
      resumed,
    },
  };
}
