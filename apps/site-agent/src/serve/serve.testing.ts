/** Test helpers for `serve`: an in-memory bundle of one task, as the bundle loader hands it to the server. */
import {
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  writeAdapterFile,
} from '@casam/casam-core';
import type { ActiveBundle } from '../bundle/installed-bundle';

/**
 * Bundle `version` with one task `liver` named `name`, its Alignment Layer and VAE at their initial weights and
 * the given τ (1e9 accepts every image, -1e9 refuses every image: the fallback).
 */
export function testBundle(version: number, tau: number, name = 'Liver CT'): ActiveBundle {
  const bytes = writeAdapterFile({
    taskId: 'liver',
    baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ee'.repeat(32) },
    tau: { tau, p95: tau, p99: tau, mean: 1, std: 1, n: 5, percentile: 97 },
    align: initialAlignmentStateDict(64, 1),
    vae: initialTaskVaeStateDict(64, 1),
  });
  return {
    installed: { version, contentHash: 'x', file: 'x', installedAt: '', kid: 'k', taskCount: 1 },
    manifest: {
      tasks: [{ taskId: 'liver', name, adapterVersion: 3, targetStructures: ['liver'] }],
    } as ActiveBundle['manifest'],
    adapters: [loadAdapter(bytes, 64, 'liver')],
    names: new Map([['liver', name]]),
  };
}
