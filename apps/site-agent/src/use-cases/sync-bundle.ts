/**
 * Use case: bring the site's router bundle up to date — fetch the newest one, verify it (pinned keys, hashes,
 * base model), swap it in atomically, remember newly endorsed coordinator keys and the sync time — and roll
 * back to the previous bundle. `site-agent pull`, `site-agent rollback` and the daemon call it.
 * Errors: BundleRefusedError (the bundle in use stays), CoordinatorError, CoordinatorUnreachableError.
 */
import { BundleStore, type InstalledBundle } from '../bundle/bundle-store';
import { type PullOutcome, pullBundle } from '../bundle/pull-bundle';
import type { AgentHome } from '../home/agent-home';
import { baseModelFingerprint } from '../model/engine-factory';
import type { AgentContext } from './agent-context';
import { enrolledSiteId } from './use-case-errors';

/** Pulls and installs the newest bundle when it is newer than the one in use; needs an enrolled site. */
export async function syncBundle(ctx: AgentContext, log: (l: string) => void): Promise<PullOutcome> {
  const { home, config, client } = ctx;
  const state = home.readState();
  enrolledSiteId(state);
  const r = await pullBundle(
    client,
    new BundleStore(home.bundlesDir),
    state,
    baseModelFingerprint(home, config),
    log,
    (keys) =>
      home.updateState((s) => {
        s.coordinatorKeys = keys;
      }),
  );
  home.updateState((s) => {
    s.lastSyncAt = new Date().toISOString();
  });
  return r;
}

/** The version of the bundle in use, if any. */
export function bundleInUse(home: AgentHome): InstalledBundle | null {
  return new BundleStore(home.bundlesDir).current();
}

/** Makes the previous bundle current again (the current one becomes the previous); throws when there is none. */
export function rollBackBundle(home: AgentHome): { from: InstalledBundle | null; to: InstalledBundle } {
  const store = new BundleStore(home.bundlesDir);
  const from = store.current();
  return { from, to: store.rollback() };
}
