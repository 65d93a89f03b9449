/**
 * Test helper for the trainer specs: sam-mini on the wasm backend with a few synthetic items whose embeddings are
 * cached in a fresh temporary folder, and the small, fast Alignment Layer settings those specs train with.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../casam/casam-fixtures.testing';
import type { Sam } from '../sam/sam';
import { createTfjsSamEngine } from '../sam/tfjs-sam-engine';
import type { TrainAlignmentLayerOptions } from './al-trainer';
import { ensureEmbeddings } from './embedding-cache';
import { buildSamMini, samMiniWeights, syntheticItems } from './trainer-fixtures.testing';
import type { EmbeddedItem } from './training-item';

export interface EmbeddedSamMini {
  /** The temporary folder; the embeddings are cached in its `cache` subfolder. */
  dir: string;
  sam: Sam;
  items: EmbeddedItem[];
  /** Disposes `sam` and removes `dir`. */
  dispose(): void;
}

/**
 * Switches to the wasm backend, builds sam-mini and embeds `n` synthetic items drawn with `seed` (in this order,
 * so seeded runs stay bit for bit what they were). `prefix` names the temporary folder.
 */
export async function embeddedSamMini(n: number, seed: number, prefix: string): Promise<EmbeddedSamMini> {
  await useBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const sam = buildSamMini();
  const raw = syntheticItems(n, { seed });
  const handles = await ensureEmbeddings(raw, createTfjsSamEngine(sam), {
    cacheDir: join(dir, 'cache'),
    fingerprint: samMiniWeights().fingerprint,
  });
  const items = raw.map((it, i) => ({ id: it.id, handle: handles[i], masks: it.masks }));
  return {
    dir,
    sam,
    items,
    dispose: () => {
      sam.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Small, fast trainAlignmentLayer settings (2 epochs, 2 images × 2 regions, low-resolution loss, seed 5). */
export function smallAlOptions(
  sam: Sam,
  items: EmbeddedItem[],
  o: Partial<TrainAlignmentLayerOptions> = {},
): TrainAlignmentLayerOptions {
  return {
    sam,
    items,
    epochs: 2,
    batchImages: 2,
    regionsPerImage: 2,
    lr: 1e-3,
    seed: 5,
    lossResolution: 'low',
    ...o,
  };
}
