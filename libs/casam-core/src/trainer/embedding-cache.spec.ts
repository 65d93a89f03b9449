import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getPreset } from '../sam/config';
import type { SamEngine } from '../sam/engine';
import { HostTensor, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import {
  CorruptEmbeddingError,
  EmbedProgress,
  embeddingCachePath,
  ensureEmbeddings,
  imageContentHash,
  loadEmbedding,
} from './embedding-cache';
import { TrainingAbortedError } from './trainer-errors';
import { syntheticItems } from './trainer-fixtures.testing';

const FP_A = 'sha256:' + 'a'.repeat(64);
const FP_B = 'sha256:' + 'b'.repeat(64);

/** A stand-in encoder: embeddings are a cheap deterministic function of the preprocessed image. */
function fakeEngine(): SamEngine & { calls: number } {
  const config = getPreset('sam-mini');
  const engine = {
    kind: 'tfjs' as const,
    config,
    calls: 0,
    async embed(pre: HostTensor): Promise<HostTensor> {
      engine.calls++;
      const x = toFloat32(pre);
      let s = 0;
      for (let i = 0; i < x.length; i += 97) s += x[i];
      const out = new Float32Array(64 * 16 * 16);
      for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.01 + s * 1e-3);
      return float32Tensor([1, 64, 16, 16], out);
    },
    async decode(): Promise<never> {
      throw new Error('not used');
    },
    dispose(): void {},
  };
  return engine;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) =>
    statSync(join(dir, f)).isFile(),
  );
}

describe('embedding cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'casam-emb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keys on pixels and size, not on the id', () => {
    const [a, b] = syntheticItems(2);
    expect(imageContentHash(a.image)).toMatch(/^[0-9a-f]{64}$/);
    expect(imageContentHash(a.image)).toBe(imageContentHash({ ...a.image, data: a.image.data.slice() }));
    expect(imageContentHash(a.image)).not.toBe(imageContentHash(b.image));
    // Same bytes, other shape.
    const flat = { width: 32, height: 128, data: a.image.data };
    expect(imageContentHash(flat)).not.toBe(imageContentHash(a.image));
  });

  it('misses once, then hits; entries sit under <fingerprint prefix>/<key[0:2]>/<key> and read back', async () => {
    const items = syntheticItems(4);
    const engine = fakeEngine();
    const events: EmbedProgress[] = [];
    const h1 = await ensureEmbeddings(items, engine, {
      cacheDir: dir,
      fingerprint: FP_A,
      onProgress: (p) => events.push(p),
    });
    expect(engine.calls).toBe(4);
    expect(events.map((e) => e.done)).toEqual([1, 2, 3, 4]);
    expect(events[3]).toMatchObject({ total: 4, cached: 0, computed: 4, repaired: 0, etaS: 0 });
    expect(events[0].etaS).toBeGreaterThanOrEqual(0);
    for (const [i, h] of h1.entries()) {
      expect(h.id).toBe(items[i].id);
      expect(h.path).toBe(join(dir, 'a'.repeat(16), h.key.slice(0, 2), `${h.key}.safetensors`));
      expect(h.path).toBe(embeddingCachePath(dir, FP_A, imageContentHash(items[i].image)));
      expect(h.originalSize).toEqual([64, 64]);
      expect(h.inputSize).toEqual([256, 256]);
      const e = loadEmbedding(h);
      expect(e.embeddings.shape).toEqual([1, 64, 16, 16]);
    }
    const want = await fakeEngine().embed(
      (await import('../sam/transforms')).prepareImage(items[2].image.data, 64, 64, engine.config)
        .preprocessed,
    );
    expect(Array.from(toFloat32(loadEmbedding(h1[2]).embeddings))).toEqual(Array.from(toFloat32(want)));

    const again: EmbedProgress[] = [];
    const h2 = await ensureEmbeddings(items, engine, {
      cacheDir: dir,
      fingerprint: FP_A,
      onProgress: (p) => again.push(p),
    });
    expect(engine.calls).toBe(4);
    expect(h2).toEqual(h1);
    expect(again[3]).toMatchObject({ cached: 4, computed: 0, etaS: null });
    expect(allFiles(dir).every((f) => f.endsWith('.safetensors'))).toBe(true); // no temporary files left
  });

  it('keeps base models apart', async () => {
    const items = syntheticItems(2);
    const engine = fakeEngine();
    const a = await ensureEmbeddings(items, engine, { cacheDir: dir, fingerprint: FP_A });
    const b = await ensureEmbeddings(items, engine, { cacheDir: dir, fingerprint: FP_B });
    expect(engine.calls).toBe(4);
    expect(b[0].path).not.toBe(a[0].path);
    expect(b[0].key).toBe(a[0].key);
    expect(() => loadEmbedding({ ...a[0], fingerprint: FP_B })).toThrow(CorruptEmbeddingError);
    expect(allFiles(dir)).toHaveLength(4);
  });

  it('computes identical images once', async () => {
    const [a] = syntheticItems(1);
    const engine = fakeEngine();
    const h = await ensureEmbeddings([a, { ...a, id: 'copy' }], engine, { cacheDir: dir, fingerprint: FP_A });
    expect(engine.calls).toBe(1);
    expect(h[1]).toMatchObject({ id: 'copy', path: h[0].path });
  });

  it('recomputes corrupt entries and refuses to load them', async () => {
    const items = syntheticItems(3);
    const engine = fakeEngine();
    const h = await ensureEmbeddings(items, engine, { cacheDir: dir, fingerprint: FP_A });
    const good = readFileSync(h[2].path);
    const flipped = Buffer.from(readFileSync(h[0].path));
    flipped[flipped.length - 7] ^= 0x40; // one bit of the tensor data
    writeFileSync(h[0].path, flipped);
    writeFileSync(h[1].path, readFileSync(h[1].path).subarray(0, 1000)); // truncated
    expect(() => loadEmbedding(h[0])).toThrow(/checksum/);
    expect(() => loadEmbedding(h[1])).toThrow(CorruptEmbeddingError);
    const events: EmbedProgress[] = [];
    await ensureEmbeddings(items, engine, {
      cacheDir: dir,
      fingerprint: FP_A,
      onProgress: (p) => events.push(p),
    });
    expect(engine.calls).toBe(5);
    expect(events[2]).toMatchObject({ cached: 1, computed: 2, repaired: 2 });
    expect(loadEmbedding(h[0]).embeddings.shape).toEqual([1, 64, 16, 16]);
    expect(readFileSync(h[2].path).equals(good)).toBe(true);
    rmSync(h[2].path);
    expect(() => loadEmbedding(h[2])).toThrow(/missing/);
  });

  it('stops on abort with finished entries kept; a rerun computes only the rest', async () => {
    const items = syntheticItems(6);
    const engine = fakeEngine();
    const ctl = new AbortController();
    await expect(
      ensureEmbeddings(items, engine, {
        cacheDir: dir,
        fingerprint: FP_A,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.done === 4) ctl.abort();
        },
      }),
    ).rejects.toThrow(TrainingAbortedError);
    expect(engine.calls).toBe(4);
    expect(allFiles(dir)).toHaveLength(4);
    const resumed = fakeEngine();
    const h = await ensureEmbeddings(items, resumed, { cacheDir: dir, fingerprint: FP_A });
    expect(resumed.calls).toBe(2);
    expect(h).toHaveLength(6);
  });

  it('takes streams, with the total given for the ETA', async () => {
    const items = syntheticItems(3);
    async function* stream(): AsyncGenerator<(typeof items)[number]> {
      for (const it of items) yield it;
    }
    const events: EmbedProgress[] = [];
    let t = 0;
    const h = await ensureEmbeddings(stream(), fakeEngine(), {
      cacheDir: dir,
      fingerprint: FP_A,
      total: 3,
      now: () => (t += 0.5),
      onProgress: (p) => events.push(p),
    });
    expect(h).toHaveLength(3);
    expect(events[0]).toMatchObject({ total: 3, etaS: 1 }); // 0.5 s per image, 2 left
    const noTotal: EmbedProgress[] = [];
    await ensureEmbeddings(stream(), fakeEngine(), {
      cacheDir: dir,
      fingerprint: FP_B,
      onProgress: (p) => noTotal.push(p),
    });
    expect(noTotal[0]).toMatchObject({ total: null, etaS: null });
  });

  it('refuses malformed fingerprints and engines that return the wrong shape', async () => {
    const items = syntheticItems(1);
    await expect(
      ensureEmbeddings(items, fakeEngine(), { cacheDir: dir, fingerprint: 'abc' }),
    ).rejects.toThrow(/fingerprint/);
    const bad = { ...fakeEngine(), embed: async () => float32Tensor([1, 32, 16, 16]) };
    await expect(ensureEmbeddings(items, bad, { cacheDir: dir, fingerprint: FP_A })).rejects.toThrow(
      /expected/,
    );
  });
});
