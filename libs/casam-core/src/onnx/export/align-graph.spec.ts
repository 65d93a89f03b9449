import { resolve } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../sam/tf';
import { getPreset } from '../../sam/config';
import { buildSam } from '../../sam/sam';
import { createTfjsSamEngine } from '../../sam/tfjs-sam-engine';
import { AlignmentLayer, createAlignmentLayer, initialAlignmentStateDict } from '../../casam/align-layer';
import { CasamStateDictError, stripPrefix } from '../../casam/state-dict-check';
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../../tensor/host-tensor';
import { REPO_ROOT, fixtureTensor, loadFixture, maxAbsDiff } from '../../testing/fixtures';
import { loadSamWeights } from '../../weights/validate';
import { exportAlignmentLayerOnnx } from './align-graph';
import { decodeModelProto } from './onnx-proto';
import { diff, ortRun, ortSession, parityReport, seededTensor, useWasm } from './onnx-export.testing';

const CASAM_GOLD = 'casam/casam-golden.safetensors';
const casamGold = (name: string): HostTensor => fixtureTensor(CASAM_GOLD, name);
const ATOL = 1e-4;

const report = parityReport('exported Alignment Layer on onnxruntime-node');
afterAll(() => report.print());

function tfjsForward(al: AlignmentLayer, x: HostTensor): HostTensor {
  const y = tf.tidy(() => al.forward(tf.tensor4d(toFloat32(x), x.shape as [number, number, number, number])));
  const out = float32Tensor([...y.shape], y.dataSync() as Float32Array);
  y.dispose();
  return out;
}

const align = async (s: ort.InferenceSession, x: HostTensor): Promise<HostTensor> =>
  (await ortRun(s, { image_embeddings: x }))['aligned_embeddings'];

describe('Alignment Layer export, C=64 (reference weights)', () => {
  let sd: StateDict;
  let session: ort.InferenceSession;
  let al: AlignmentLayer;
  let bytes: Uint8Array;

  beforeAll(async () => {
    await useWasm();
    sd = stripPrefix(loadFixture('casam/casam-weights.safetensors'), 'align64.');
    bytes = exportAlignmentLayerOnnx(sd, { channels: 64 }).model;
    session = await ortSession(bytes);
    al = createAlignmentLayer({ channels: 64, stateDict: sd, trainable: false });
  });
  afterAll(async () => {
    al?.dispose();
    await session?.release();
  });

  it('maps image_embeddings to aligned_embeddings with dynamic batch and grid', () => {
    const g = decodeModelProto(bytes).graph;
    const sig = (vs: typeof g.input) =>
      vs.map((v) => [v.name, v.type?.tensorType?.shape?.dim?.map((d) => d.dimValue ?? d.dimParam)]);
    expect(sig(g.input)).toEqual([['image_embeddings', ['batch', 64, 'height', 'width']]]);
    expect(sig(g.output)).toEqual([['aligned_embeddings', ['batch', 64, 'height', 'width']]]);
  });

  it('matches the reference golden and the TF.js layer on the sam-mini embeddings', async () => {
    const x = casamGold('align64.input');
    const y = await align(session, x);
    const dg = report.add('C=64 output vs golden', diff(y, casamGold('align64.output'), 'golden'));
    const dt = report.add('C=64 output vs TF.js', diff(y, tfjsForward(al, x), 'tfjs'));
    expect(Math.max(dg, dt)).toBeLessThanOrEqual(ATOL);
  });

  it('matches the TF.js layer on a batch of 2 at another grid size (8×12)', async () => {
    const x = seededTensor([2, 64, 8, 12], 3, -3, 3);
    const d = report.add(
      'C=64 batch 2, 8×12 vs TF.js',
      diff(await align(session, x), tfjsForward(al, x), 'b2'),
    );
    expect(d).toBeLessThanOrEqual(ATOL);
  });

  it('refuses a state dict of another channel count, naming the tensors', () => {
    expect(() => exportAlignmentLayerOnnx(sd, { channels: 256 })).toThrow(CasamStateDictError);
  });
});

describe('Alignment Layer export, C=256 (vit-sized reference weights, 64×64 grid)', () => {
  it('matches the reference golden rows, channel means and per-pixel norms', async () => {
    const sd = stripPrefix(loadFixture('casam/casam-weights.safetensors'), 'align256.');
    const session = await ortSession(exportAlignmentLayerOnnx(sd, { channels: 256, grid: 64 }).model);
    try {
      const x = fixtureTensor('sam-vitb-decoder/sam-vitb-decoder-golden.safetensors', 'image_embeddings');
      const y = toFloat32(await align(session, x));
      const rows = (r0: number): Float32Array => {
        const out = new Float32Array(256 * 8 * 64);
        for (let c = 0; c < 256; c++)
          out.set(y.subarray(c * 4096 + r0 * 64, c * 4096 + (r0 + 8) * 64), c * 512);
        return out;
      };
      const meanHw = new Float32Array(256);
      const l2 = new Float64Array(4096);
      for (let c = 0; c < 256; c++) {
        let m = 0;
        for (let p = 0; p < 4096; p++) {
          const v = y[c * 4096 + p];
          m += v;
          l2[p] += v * v;
        }
        meanHw[c] = m / 4096;
      }
      const d0 = report.add(
        'C=256 rows 0-7 vs golden',
        maxAbsDiff(rows(0), toFloat32(casamGold('align256.output_rows_0_7'))),
      );
      const d1 = report.add(
        'C=256 rows 56-63 vs golden',
        maxAbsDiff(rows(56), toFloat32(casamGold('align256.output_rows_56_63'))),
      );
      const dm = report.add(
        'C=256 channel means vs golden',
        maxAbsDiff(meanHw, toFloat32(casamGold('align256.output_mean_hw'))),
      );
      const dl = report.add(
        'C=256 per-pixel L2 norms vs golden',
        maxAbsDiff(Float32Array.from(l2, Math.sqrt), toFloat32(casamGold('align256.output_l2_c'))),
      );
      expect(Math.max(d0, d1, dm, dl)).toBeLessThanOrEqual(ATOL);
    } finally {
      await session.release();
    }
  });
});

describe('Alignment Layer export on casam-tiny embeddings', () => {
  it('matches the TF.js layer on the embeddings of the shipped casam-tiny encoder', async () => {
    await useWasm();
    const cfg = getPreset('casam-tiny');
    const engine = createTfjsSamEngine(
      buildSam(cfg, loadSamWeights(resolve(REPO_ROOT, 'models/casam-tiny/casam-tiny.safetensors'), cfg)),
    );
    const sd = initialAlignmentStateDict(64, 17);
    const al = createAlignmentLayer({ channels: 64, stateDict: sd, trainable: false });
    const session = await ortSession(exportAlignmentLayerOnnx(sd, { channels: 64, grid: 16 }).model);
    try {
      const emb = await engine.embed(
        fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'input.preprocessed'),
      );
      const d = report.add(
        'casam-tiny embeddings vs TF.js',
        diff(await align(session, emb), tfjsForward(al, emb), 'tiny'),
      );
      expect(d).toBeLessThanOrEqual(ATOL);
    } finally {
      al.dispose();
      engine.dispose();
      await session.release();
    }
  });
});
