import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFloat32 } from '../../tensor/host-tensor';
import { maxAbsDiff } from '../../testing/fixtures';
import { GraphBuilder, MS_DOMAIN, OnnxExportError, attrInt, writeOnnxModel } from './onnx-builder';
import { OnnxDataLocation, decodeModelProto } from './onnx-proto';
import { ortRun, ortSession, seededTensor } from './onnx-export.testing';

/** y = layerNorm2d(gelu(x · W)) over a [1, C, 2, 2] map, with W a [C, C] 1×1 conv: small but real. */
function smallGraph(c: number, w: Float32Array): GraphBuilder {
  const b = new GraphBuilder('small');
  const x = b.input('x', 'float32', ['batch', c, 2, 2]);
  const conv = b.conv(x, b.weight('w', [c, c, 1, 1], w), undefined, { kernel: 1 });
  const scale = b.weight(
    'ln.weight',
    [c],
    Float32Array.from({ length: c }, (_, i) => 1 + i / c),
  );
  const bias = b.weight(
    'ln.bias',
    [c],
    Float32Array.from({ length: c }, (_, i) => -i / c),
  );
  b.output('y', b.layerNorm2d(b.gelu(conv), scale, bias, 1e-6), 'float32', ['batch', c, 2, 2]);
  return b;
}

/** The same computation in float64. */
function smallReference(c: number, w: Float32Array, x: Float32Array): Float32Array {
  // erfc by the Numerical Recipes Chebyshev fit (fractional error < 1.2e-7), ample for a 1e-5 check.
  const erf = (v: number): number => {
    const z = Math.abs(v);
    const t = 1 / (1 + 0.5 * z);
    const poly =
      -1.26551223 +
      t *
        (1.00002368 +
          t *
            (0.37409196 +
              t *
                (0.09678418 +
                  t *
                    (-0.18628806 +
                      t *
                        (0.27886807 +
                          t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    const erfc = t * Math.exp(-z * z + poly);
    return v >= 0 ? 1 - erfc : erfc - 1;
  };
  const out = new Float32Array(c * 4);
  for (let p = 0; p < 4; p++) {
    const g = new Float64Array(c);
    for (let o = 0; o < c; o++) {
      let s = 0;
      for (let i = 0; i < c; i++) s += w[o * c + i] * x[i * 4 + p];
      g[o] = 0.5 * s * (1 + erf(s / Math.SQRT2));
    }
    const mean = g.reduce((a, v) => a + v, 0) / c;
    const variance = g.reduce((a, v) => a + (v - mean) ** 2, 0) / c;
    for (let o = 0; o < c; o++)
      out[o * 4 + p] = ((g[o] - mean) / Math.sqrt(variance + 1e-6)) * (1 + o / c) - o / c;
  }
  return out;
}

describe('GraphBuilder', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-builder-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses inputs that are not defined yet, values defined twice and non-integer int attributes', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    expect(() => b.add(x, 'nope')).toThrow(OnnxExportError);
    expect(() => b.add(x, 'nope')).toThrow(/Add: input "nope" is not defined/);
    expect(() => b.input('x', 'float32', [2])).toThrow(/defined twice/);
    expect(() => b.op1('Softmax', [x], { axis: attrInt(0.5) })).toThrow(/not an integer/);
    expect(() => b.weight('w', [2, 2], new Float32Array(3))).toThrow(/needs 4 values, got 3/);
    expect(() => b.serialize({})).toThrow(/has no outputs/);
  });

  it('shares identical small constants', () => {
    const b = new GraphBuilder('g');
    expect(b.constI64([1, -1])).toBe(b.constI64([1, -1]));
    expect(b.constF32(0.5)).toBe(b.constF32(0.5));
    expect(b.constF32(0.5)).not.toBe(b.constF64(0.5));
    expect(b.constI64([1], true)).not.toBe(b.constI64([1]));
  });

  it('round-trips through protobuf: opset, names, symbolic dims, attributes, initializer bytes, metadata', () => {
    const w = seededTensor([3, 3, 1, 1], 1);
    const bytes = smallGraph(3, toFloat32(w)).serialize({
      metadata: { preset: 'x' },
      producerVersion: '7',
    }).model;
    const m = decodeModelProto(bytes);
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport[0].version).toBe(17);
    expect(m.producerName).toBe('casam-federation');
    expect(m.producerVersion).toBe('7');
    expect(m.metadataProps).toEqual([{ key: 'preset', value: 'x' }]);
    expect(m.graph.input[0].type?.tensorType?.shape?.dim).toEqual([
      { dimParam: 'batch' },
      { dimValue: 3 },
      { dimValue: 2 },
      { dimValue: 2 },
    ]);
    const conv = m.graph.node.find((n) => n.opType === 'Conv')!;
    expect(conv.attribute?.find((a) => a.name === 'kernel_shape')?.ints).toEqual([1, 1]);
    const init = m.graph.initializer.find((t) => t.name === 'w')!;
    expect(init.dims).toEqual([3, 3, 1, 1]);
    const raw = init.rawData!;
    expect([...new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))]).toEqual([
      ...toFloat32(w),
    ]);
  });

  it('imports the com.microsoft opset only when a node of that domain is added', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [1, 2, 4]);
    b.output('y', b.op1('Softmax', [x], { axis: attrInt(-1) }), 'float32', [1, 2, 4]);
    const plain = decodeModelProto(b.serialize({}).model);
    expect(plain.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([['', 17]]);
    const c = new GraphBuilder('g');
    const q = c.input('q', 'float32', [1, 2, 4]);
    const attn = c.op1('MultiHeadAttention', [q, q, q], { num_heads: attrInt(2) }, MS_DOMAIN);
    c.output('y', attn, 'float32', [1, 2, 4]);
    const m = decodeModelProto(c.serialize({}).model);
    expect(m.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([
      ['', 17],
      ['com.microsoft', 1],
    ]);
    // (output() adds a plain Identity that names the graph output.)
    expect(m.graph.node.map((n) => [n.opType, n.domain ?? ''])).toEqual([
      ['MultiHeadAttention', 'com.microsoft'],
      ['Identity', ''],
    ]);
  });

  it('runs in ONNX Runtime: LayerNorm2d and exact GELU agree with a float64 reference', async () => {
    const c = 5;
    const w = toFloat32(seededTensor([c, c, 1, 1], 2, -0.5, 0.5));
    const s = await ortSession(smallGraph(c, w).serialize({}).model);
    try {
      for (const batch of [1, 3]) {
        const x = seededTensor([batch, c, 2, 2], 3 + batch, -2, 2);
        const y = toFloat32((await ortRun(s, { x }))['y']);
        for (let n = 0; n < batch; n++) {
          const ref = smallReference(c, w, toFloat32(x).subarray(n * c * 4, (n + 1) * c * 4));
          expect(maxAbsDiff(y.subarray(n * c * 4, (n + 1) * c * 4), ref)).toBeLessThan(1e-5);
        }
      }
    } finally {
      await s.release();
    }
  });

  it('writes weights to an aligned side file that ONNX Runtime reads from beside the model', async () => {
    const c = 64; // 16 KiB of conv weight: goes external; the small norm vectors stay inline
    const w = toFloat32(seededTensor([c, c, 1, 1], 4, -0.2, 0.2));
    const x = seededTensor([1, c, 2, 2], 5);
    const inline = smallGraph(c, w).serialize({});
    expect(inline.externalData).toBeUndefined();
    expect(() => smallGraph(c, w).serialize({ weights: 'external' })).toThrow(/needs a bare file name/);
    expect(() => smallGraph(c, w).serialize({ weights: 'external', externalDataFile: '../w.data' })).toThrow(
      /bare file name/,
    );
    const ext = smallGraph(c, w).serialize({ weights: 'external', externalDataFile: 'small.onnx.data' });
    const path = join(dir, 'small.onnx');
    const written = writeOnnxModel(path, ext);
    expect(written.externalBytes).toBe(statSync(join(dir, 'small.onnx.data')).size);
    expect(written.modelBytes).toBeLessThan(inline.model.byteLength - c * c * 4 + 1024);
    const m = decodeModelProto(readFileSync(path));
    const t = m.graph.initializer.find((i) => i.name === 'w')!;
    expect(t.dataLocation).toBe(OnnxDataLocation.EXTERNAL);
    const entries = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    expect(entries).toEqual({ location: 'small.onnx.data', offset: '0', length: String(c * c * 4) });
    const a = await ortSession(inline.model);
    const b = await ortSession(path);
    try {
      const ya = (await ortRun(a, { x }))['y'];
      const yb = (await ortRun(b, { x }))['y'];
      expect(toFloat32(yb)).toEqual(toFloat32(ya));
      expect(ya.shape).toEqual([1, c, 2, 2]);
    } finally {
      await Promise.all([a.release(), b.release()]);
    }
  });
});
