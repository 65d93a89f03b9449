/**
 * Test and bench helpers for the trainer: small seeded synthetic "scans" (a textured background with a textured
 * disc and a ring, one mask each) and the sam-mini fixture model.
 */
import { createRng } from '../random/seeded-random';
import { getPreset } from '../sam/config';
import { Sam, buildSam } from '../sam/sam';
import { StateDict } from '../tensor/host-tensor';
import { loadFixture } from '../testing/fixtures';
import { stateDictFingerprint } from '../weights/fingerprint';
import type { TrainingItem } from './training-item';

export const SAM_MINI_WEIGHTS = 'sam-mini/sam-mini.safetensors';

export interface SyntheticItemsOptions {
  seed?: number;
  width?: number;
  height?: number;
  /** Prefix of the ids. */
  prefix?: string;
}

/**
 * `n` images with two regions each: class `disc` (bright, speckled) and class `ring` (an annulus of another
 * intensity around a dark centre), on a low-frequency textured background with noise.
 */
export function syntheticItems(n: number, opts: SyntheticItemsOptions = {}): TrainingItem[] {
  const w = opts.width ?? 64;
  const h = opts.height ?? 64;
  const rng = createRng(opts.seed ?? 1);
  const items: TrainingItem[] = [];
  for (let k = 0; k < n; k++) {
    const data = new Uint8Array(w * h * 3);
    const disc = new Uint8Array(w * h);
    const ring = new Uint8Array(w * h);
    const s = Math.min(w, h);
    const fx = 0.05 + 0.15 * rng();
    const fy = 0.05 + 0.15 * rng();
    const phase = 6.28 * rng();
    const dr = s * (0.1 + 0.08 * rng());
    const dx = w * (0.25 + 0.1 * rng());
    const dy = h * (0.3 + 0.4 * rng());
    const rr = s * (0.14 + 0.06 * rng());
    const rx = w * (0.68 + 0.08 * rng());
    const ry = h * (0.3 + 0.4 * rng());
    const thick = s * (0.05 + 0.03 * rng());
    const tint = 0.6 + 0.4 * rng();
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        let v = 60 + 25 * Math.sin(fx * x + phase) * Math.cos(fy * y) + 20 * (rng() - 0.5);
        const d1 = Math.hypot(x - dx, y - dy);
        const d2 = Math.hypot(x - rx, y - ry);
        if (d1 <= dr) {
          disc[i] = 1;
          v = 190 + 40 * (rng() - 0.5) + 15 * Math.sin(0.9 * x);
        } else if (d2 <= rr && d2 >= rr - thick) {
          ring[i] = 1;
          v = 140 + 30 * (rng() - 0.5);
        } else if (d2 < rr - thick) v = 35 + 10 * (rng() - 0.5);
        const c = Math.max(0, Math.min(255, Math.round(v)));
        data[3 * i] = c;
        data[3 * i + 1] = Math.round(c * tint);
        data[3 * i + 2] = Math.round(c * (1.2 - tint * 0.4));
      }
    items.push({
      id: `${opts.prefix ?? 'img'}-${k}`,
      image: { width: w, height: h, data },
      masks: [
        { classId: 'disc', mask: disc },
        { classId: 'ring', mask: ring },
      ],
    });
  }
  return items;
}

let miniWeights: StateDict | null = null;

/** The sam-mini fixture weights (official code, seeded random init) and their fingerprint. */
export function samMiniWeights(): { sd: StateDict; fingerprint: string } {
  miniWeights ??= loadFixture(SAM_MINI_WEIGHTS);
  return { sd: miniWeights, fingerprint: stateDictFingerprint(miniWeights) };
}

/** A fresh sam-mini model on the active backend (the caller disposes it). */
export function buildSamMini(): Sam {
  return buildSam(getPreset('sam-mini'), samMiniWeights().sd);
}
