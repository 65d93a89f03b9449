import { resolve } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SamConfig, getPreset } from '../../sam/config';
import { buildSam } from '../../sam/sam';
import { SamEngine } from '../../sam/engine';
import { createTfjsSamEngine } from '../../sam/tfjs-sam-engine';
import { randomSamStateDict } from '../../sam/random-weights';
import { HostTensor, StateDict } from '../../tensor/host-tensor';
import { REPO_ROOT, fixturePath, fixtureTensor, loadFixture } from '../../testing/fixtures';
import { CheckpointMismatchError, loadSamWeights } from '../../weights/validate';
import { exportImageEncoderOnnx, expandRelPos } from './encoder-graph';
import { decodeModelProto } from './onnx-proto';
import { diff, ortRun, ortSession, parityReport, seededTensor, useWasm } from './onnx-export.testing';

const GOLD = 'sam-mini/sam-mini-golden.safetensors';
const gold = (name: string): HostTensor => fixtureTensor(GOLD, name);
const ATOL = 1e-4;
const CASAM_TINY = resolve(REPO_ROOT, 'models/casam-tiny/casam-tiny.safetensors');

/** The operators the exported encoder may use: plain opset-17 ops ONNX Runtime runs on any provider. */
const PLAIN_OPS = new Set([
  'Add',
  'Concat',
  'Conv',
  'Div',
  'Erf',
  'Expand',
  'Gemm',
  'Identity',
  'LayerNormalization',
  'MatMul',
  'Mul',
  'Pad',
  'ReduceMean',
  'Reshape',
  'Slice',
  'Softmax',
  'Split',
  'Sqrt',
  'Sub',
  'Transpose',
]);

const report = parityReport('exported image encoder on onnxruntime-node');
afterAll(() => report.print());

interface Subject {
  cfg: SamConfig;
  sd: StateDict;
  bytes: Uint8Array;
  session: ort.InferenceSession;
  tfjs: SamEngine;
}

async function subject(cfg: SamConfig, sd: StateDict): Promise<Subject> {
  await useWasm();
  const bytes = exportImageEncoderOnnx(cfg, sd).model;
  return { cfg, sd, bytes, session: await ortSession(bytes), tfjs: createTfjsSamEngine(buildSam(cfg, sd)) };
}

async function embed(s: Subject, image: HostTensor): Promise<HostTensor> {
  const out = await ortRun(s.session, { image });
  return out['image_embeddings'];
}

describe('expandRelPos', () => {
  it('lays out table row q − k + S − 1 at [q, c, k]', () => {
    const s = 3;
    const hd = 2;
    const table = Float32Array.from({ length: (2 * s - 1) * hd }, (_, i) => i); // row r = [2r, 2r+1]
    const out = expandRelPos(table, s, hd);
    for (let q = 0; q < s; q++)
      for (let k = 0; k < s; k++)
        for (let c = 0; c < hd; c++) expect(out[(q * hd + c) * s + k]).toBe(2 * (q - k + s - 1) + c);
  });
});

describe('image encoder export, sam-mini (official fixture weights; window 7 pads 16 → 21)', () => {
  let s: Subject;
  beforeAll(async () => {
    s = await subject(getPreset('sam-mini'), loadFixture('sam-mini/sam-mini.safetensors'));
  });
  afterAll(async () => {
    s?.tfjs.dispose();
    await s?.session.release();
  });

  it('has the official export signature and only plain opset-17 operators', () => {
    const m = decodeModelProto(s.bytes);
    expect(m.irVersion).toBe(8);
    // proto2 leaves the default domain ('' = ai.onnx) off the wire.
    expect(m.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([['', 17]]);
    const io = (vs: typeof m.graph.input) =>
      vs.map((v) => [v.name, v.type?.tensorType?.shape?.dim?.map((d) => d.dimValue)]);
    expect(io(m.graph.input)).toEqual([['image', [1, 3, 256, 256]]]);
    expect(io(m.graph.output)).toEqual([['image_embeddings', [1, 64, 16, 16]]]);
    const ops = new Set(m.graph.node.map((n) => n.opType));
    expect([...ops].filter((o) => !PLAIN_OPS.has(o))).toEqual([]);
    expect(ops.has('Pad')).toBe(true); // the windowed blocks pad 16 → 21
  });

  it('matches the official image embeddings, unpadded and padded (resize case) input', async () => {
    for (const [input, want] of [
      ['input.preprocessed', 'image_embeddings'],
      ['resize.preprocessed', 'resize.image_embeddings'],
    ]) {
      const d = report.add(
        `sam-mini ${want} vs official golden`,
        diff(await embed(s, gold(input)), gold(want), want),
      );
      expect(d).toBeLessThanOrEqual(ATOL);
    }
  });

  it('matches the TF.js engine and the official PyTorch export on the same input', async () => {
    const image = gold('input.preprocessed');
    const ours = await embed(s, image);
    const dTf = report.add('sam-mini vs TF.js engine', diff(ours, await s.tfjs.embed(image), 'vs tfjs'));
    expect(dTf).toBeLessThanOrEqual(ATOL);
    const official = await ortSession(fixturePath('onnx/sam-mini-encoder.onnx'));
    try {
      const theirs = (await ortRun(official, { image }))['image_embeddings'];
      const dOff = report.add(
        'sam-mini vs official PyTorch export (both on ORT)',
        diff(ours, theirs, 'vs official'),
      );
      expect(dOff).toBeLessThanOrEqual(ATOL);
    } finally {
      await official.release();
    }
  });

  it('refuses weights of another shape, naming the tensor', () => {
    const sd = new Map(loadFixture('sam-mini/sam-mini.safetensors'));
    sd.delete('image_encoder.blocks.2.attn.rel_pos_h');
    expect(() => exportImageEncoderOnnx(getPreset('sam-mini'), sd)).toThrow(CheckpointMismatchError);
    expect(() =>
      exportImageEncoderOnnx(getPreset('vit_b'), loadFixture('sam-mini/sam-mini.safetensors')),
    ).toThrow(/does not match the vit_b model/);
  });
});

describe('image encoder export, casam-tiny (shipped weights; window 8 tiles the grid)', () => {
  let s: Subject;
  beforeAll(async () => {
    const cfg = getPreset('casam-tiny');
    s = await subject(cfg, loadSamWeights(CASAM_TINY, cfg));
  });
  afterAll(async () => {
    s?.tfjs.dispose();
    await s?.session.release();
  });

  it('matches the TF.js engine on the test image and on a random input', async () => {
    expect(decodeModelProto(s.bytes).graph.node.some((n) => n.opType === 'Pad')).toBe(false);
    for (const [label, image] of [
      ['test image', gold('input.preprocessed')],
      ['random input', seededTensor([1, 3, 256, 256], 7, -2, 2)],
    ] as const) {
      const d = report.add(
        `casam-tiny ${label} vs TF.js engine`,
        diff(await embed(s, image), await s.tfjs.embed(image), label),
      );
      expect(d).toBeLessThanOrEqual(ATOL);
    }
  });
});

describe('image encoder export, casam-small (random weights; 8-px patches, 32×32 grid)', () => {
  it('matches the TF.js engine', async () => {
    const cfg = getPreset('casam-small');
    const s = await subject(cfg, randomSamStateDict(cfg, 5));
    try {
      // Its 2 global blocks (S = 32 > hd / 2) run as ONNX Runtime's MultiHeadAttention with the rel-pos bias;
      // everything else stays plain opset 17.
      const m = decodeModelProto(s.bytes);
      expect(m.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([
        ['', 17],
        ['com.microsoft', 1],
      ]);
      const mha = m.graph.node.filter((n) => n.opType === 'MultiHeadAttention');
      expect(mha).toHaveLength(2);
      expect(mha.every((n) => n.domain === 'com.microsoft')).toBe(true);
      const others = m.graph.node.filter((n) => n.opType !== 'MultiHeadAttention');
      expect(others.filter((n) => !PLAIN_OPS.has(n.opType) || (n.domain ?? '') !== '')).toEqual([]);
      const image = gold('input.preprocessed');
      const ours = await embed(s, image);
      expect(ours.shape).toEqual([1, 64, 32, 32]);
      const d = report.add(
        'casam-small vs TF.js engine',
        diff(ours, await s.tfjs.embed(image), 'casam-small'),
      );
      expect(d).toBeLessThanOrEqual(ATOL);
    } finally {
      s.tfjs.dispose();
      await s.session.release();
    }
  });
});
