import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { useBackend } from '../casam/casam-fixtures.testing';
import { createAlignmentLayer, initialAlignmentStateDict } from '../casam/align-layer';
import type { Sam } from '../sam/sam';
import { float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { trainAlignmentLayer } from './al-trainer';
import {
  ParameterMap,
  accumulateFisher,
  computeFisherDiagonal,
  createEwcPenalty,
  parameterSnapshot,
} from './ewc';
import { TrainerInputError } from './trainer-errors';
import { EmbeddedSamMini, embeddedSamMini } from './embedded-sam-mini.testing';
import type { EmbeddedItem } from './training-item';

function map(entries: Record<string, number[]>): ParameterMap {
  return new Map(
    Object.entries(entries).map(([k, v]) => [k, float32Tensor([v.length], Float32Array.from(v))]),
  );
}

describe('EWC pieces', () => {
  it('accumulates Fishers online: γ·previous + next', () => {
    const a = map({ w: [1, 2], b: [0.5] });
    const b = map({ w: [3, 4], b: [1] });
    expect(toFloat32(accumulateFisher(null, a).get('w')!)).toEqual(Float32Array.from([1, 2]));
    const s = accumulateFisher(a, b, 0.5);
    expect(Array.from(toFloat32(s.get('w')!))).toEqual([3.5, 5]);
    expect(Array.from(toFloat32(s.get('b')!))).toEqual([1.25]);
    expect(() => accumulateFisher(map({ x: [1] }), b)).toThrow(TrainerInputError);
  });

  it('penalises λ/2 Σ F (θ − θ*)² and leaks nothing', async () => {
    await useBackend('cpu');
    const pen = createEwcPenalty({
      anchor: map({ w: [1, 1], b: [0] }),
      fisher: map({ w: [2, 0], b: [4] }),
      lambda: 3,
    });
    const vars = new Map([
      ['w', tf.variable(tf.tensor1d([2, 5]))],
      ['b', tf.variable(tf.tensor1d([-1]))],
    ]);
    const before = tf.memory().numTensors;
    const p = pen.penalty(vars);
    // 3/2 · (2·1² + 0·4² + 4·1²) = 9
    expect(p.dataSync()[0]).toBeCloseTo(9, 6);
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(pen.id).toMatch(/^ewc:[0-9a-f]{16}$/);
    // The id follows the anchor, the Fisher and λ.
    const again = createEwcPenalty({
      anchor: map({ w: [1, 1], b: [0] }),
      fisher: map({ w: [2, 0], b: [4] }),
      lambda: 3,
    });
    const other = createEwcPenalty({
      anchor: map({ w: [1, 1], b: [0] }),
      fisher: map({ w: [2, 0], b: [4] }),
      lambda: 4,
    });
    expect(again.id).toBe(pen.id);
    expect(other.id).not.toBe(pen.id);
    [pen, again, other].forEach((x) => x.dispose());
    vars.forEach((v) => v.dispose());
    expect(() => createEwcPenalty({ anchor: map({ w: [1] }), fisher: map({}), lambda: 1 })).toThrow(
      /lacks w/,
    );
    expect(() => createEwcPenalty({ anchor: map({}), fisher: map({}), lambda: -1 })).toThrow(/λ/);
  });
});

describe('EWC with the Alignment Layer trainer', () => {
  let fx: EmbeddedSamMini;
  let dir: string;
  let sam: Sam;
  let items: EmbeddedItem[];

  beforeAll(async () => {
    fx = await embeddedSamMini(3, 4, 'casam-ewc-');
    ({ dir, sam, items } = fx);
  });
  afterAll(() => fx.dispose());

  it('computes a finite, non-negative, seeded diagonal Fisher of every AL weight without leaking', async () => {
    const align = createAlignmentLayer({ channels: 64, seed: 3 });
    try {
      const before = tf.memory().numTensors;
      const progress: number[] = [];
      const f = await computeFisherDiagonal({
        sam,
        align,
        items,
        seed: 1,
        onProgress: (p) => progress.push(p.done),
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(progress).toEqual([1, 2, 3]);
      expect([...f.keys()]).toEqual([...align.namedVariables().keys()]);
      let total = 0;
      for (const [k, t] of f) {
        expect(t.shape).toEqual(align.namedVariables().get(k)!.shape);
        for (const v of toFloat32(t)) {
          expect(Number.isFinite(v) && v >= 0).toBe(true);
          total += v;
        }
      }
      expect(total).toBeGreaterThan(0);
      const g = await computeFisherDiagonal({ sam, align, items, seed: 1 });
      expect(toFloat32(g.get('blocks.0.conv1.weight')!)).toEqual(toFloat32(f.get('blocks.0.conv1.weight')!));
    } finally {
      align.dispose();
    }
  });

  it('keeps a layer near its anchor when λ is large, and resumes only under the same penalty', async () => {
    const init = initialAlignmentStateDict(64, 9);
    const common = {
      sam,
      items,
      epochs: 2,
      batchImages: 3,
      regionsPerImage: 2,
      lr: 1e-2,
      seed: 2,
      initialStateDict: init,
    };
    const anchorLayer = createAlignmentLayer({ channels: 64, stateDict: init });
    const anchor = parameterSnapshot(anchorLayer);
    anchorLayer.dispose();
    const ones: ParameterMap = new Map(
      [...anchor].map(([k, t]) => [
        k,
        float32Tensor([...t.shape], new Float32Array(toFloat32(t).length).fill(1)),
      ]),
    );
    const drift = (sd: ParameterMap): number => {
      let s = 0;
      for (const [k, t] of sd) {
        const a = toFloat32(anchor.get(k)!);
        toFloat32(t).forEach((v, i) => (s += (v - a[i]) ** 2));
      }
      return Math.sqrt(s);
    };
    const free = await trainAlignmentLayer(common);
    const pen = createEwcPenalty({ anchor, fisher: ones, lambda: 1e6 });
    const held = await trainAlignmentLayer({
      ...common,
      regularizer: pen,
      checkpoint: { path: join(dir, 'ewc.ck') },
    });
    try {
      expect(drift(parameterSnapshot(held.align))).toBeLessThan(0.2 * drift(parameterSnapshot(free.align)));
      // A checkpoint written under one penalty is not resumed under another.
      const other = createEwcPenalty({ anchor, fisher: ones, lambda: 1 });
      await expect(
        trainAlignmentLayer({
          ...common,
          epochs: 3,
          regularizer: other,
          checkpoint: { path: join(dir, 'ewc.ck') },
        }),
      ).rejects.toThrow(/other data or options/);
      other.dispose();
    } finally {
      pen.dispose();
      free.align.dispose();
      held.align.dispose();
    }
  });
});
