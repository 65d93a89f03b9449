import { type LoadedAdapter, loadAdapter } from '@casam/casam-core';
import type { BundleManifest } from '@casam/protocol';
import { printable } from '../cli/printable';
import type { AgentState } from '../home/agent-home';
import { BundleStore, type InstalledBundle } from './bundle-store';
import { pinnedJwks } from './pull-bundle';
import { BundleVerificationError, verifyBundle } from './verify-bundle';

export interface ActiveBundle {
  installed: InstalledBundle;
  manifest: BundleManifest;
  adapters: LoadedAdapter[];
  /** Task names by task id (for printing decisions). */
  names: Map<string, string>;
}

/**
 * The bundle to segment with: the current one, verified again from disk (pinned key, hashes) so a file altered
 * after installation is never used; if it fails, the previous one; if none is usable, null (plain frozen SAM).
 * A damaged `current.json` is bundle damage like any other: a warning, then whatever of it is still usable.
 */
export async function loadActiveBundle(
  store: BundleStore,
  state: AgentState,
  baseModelFingerprint: string,
  channels: number,
  log: (l: string) => void,
): Promise<ActiveBundle | null> {
  const p = store.pointer();
  if (p.damage)
    log(
      `warning: ${p.damage}; ${p.current || p.previous ? 'trying the entry that is intact' : 'no bundle can be used from it'} (site-agent pull installs the newest bundle again)`,
    );
  for (const [which, b] of [
    ['current', p.current],
    ['previous', p.previous],
  ] as const) {
    if (!b) continue;
    try {
      const v = await verifyBundle(store.read(b), pinnedJwks(state, { includeRetired: true }), {
        expectedContentHash: b.contentHash,
      });
      if (v.manifest.baseModel && v.manifest.baseModel.fingerprint !== baseModelFingerprint) {
        log(`bundle ${b.version} (${which}) is for another base model; not using it`);
        continue;
      }
      if (which === 'previous') log(`using the previous bundle ${b.version}`);
      return {
        installed: b,
        manifest: v.manifest,
        adapters: v.manifest.tasks.map((t) => loadAdapter(v.adapters.get(t.taskId)!, channels, t.taskId)),
        // The name is only shown: a manifest whose name is not a string shows the task id instead.
        names: new Map(
          v.manifest.tasks.map((t) => [t.taskId, typeof t.name === 'string' ? t.name : t.taskId]),
        ),
      };
    } catch (e) {
      const why = e instanceof BundleVerificationError ? `${e.code}: ${e.message}` : (e as Error).message;
      log(`bundle ${b.version} (${which}) on disk fails verification, not using it — ${printable(why)}`);
    }
  }
  return null;
}
