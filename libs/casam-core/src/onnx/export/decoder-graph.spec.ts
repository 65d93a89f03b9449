import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../sam/tf';
import { SamConfig, getPreset, maskInputSize } from '../../sam/config';
import { EnginePrompt, SamEngine } from '../../sam/engine';
import { buildSam } from '../../sam/sam';
import { createTfjsSamEngine } from '../../sam/tfjs-sam-engine';
import { postprocessMasks } from '../../sam/transforms';
import { ParamStore } from '../../sam/params';
import { createPromptEncoder } from '../../sam/prompt-encoder';
import { createMaskDecoder } from '../../sam/mask-decoder';
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../../tensor/host-tensor';
import { REPO_ROOT, fixturePath, fixtureTensor, loadFixture } from '../../testing/fixtures';
import { loadSamWeights } from '../../weights/validate';
import { promptToDecoderInputs } from '../onnx-sam-engine';
import { exportPromptDecoderOnnx } from './decoder-graph';
import { ModelMessage, decodeModelProto } from './onnx-proto';
import { diff, ortRun, ortSession, parityReport, seededTensor, tokens, useWasm } from './onnx-export.testing';

const GOLD = 'sam-mini/sam-mini-golden.safetensors';
const ONNX_GOLD = 'onnx/onnx-golden.safetensors';
const VITB_GOLD = 'sam-vitb-decoder/sam-vitb-decoder-golden.safetensors';
const gold = (name: string): HostTensor => fixtureTensor(GOLD, name);
const onnxGold = (name: string): HostTensor => fixtureTensor(ONNX_GOLD, name);
const vitbGold = (name: string): HostTensor => fixtureTensor(VITB_GOLD, name);
const ATOL = 1e-4;
const CASAM_TINY = resolve(REPO_ROOT, 'models/casam-tiny/casam-tiny.safetensors');

const report = parityReport('exported prompt decoder on onnxruntime-node');
afterAll(() => report.print());

type Feeds = Record<string, HostTensor>;

function feedsOf(i: ReturnType<typeof promptToDecoderInputs>): Feeds {
  return {
    image_embeddings: i.imageEmbeddings,
    point_coords: i.pointCoords,
    point_labels: i.pointLabels,
    mask_input: i.maskInput,
    has_mask_input: i.hasMaskInput,
    orig_im_size: i.origImSize,
  };
}

/** The official resize_longest_image_size: the crop the wrapper takes before resizing to the original size. */
function inputSizeFor(orig: [number, number], imgSize: number): [number, number] {
  const scale = imgSize / Math.max(...orig);
  return [Math.floor(scale * orig[0] + 0.5), Math.floor(scale * orig[1] + 0.5)];
}

/** All mask tokens from the TF.js engine: token 0 (single) then tokens 1..3 (multimask). */
async function tfjsAllTokens(
  engine: SamEngine,
  emb: HostTensor,
  prompt: EnginePrompt,
): Promise<{ low: HostTensor; iou: HostTensor }> {
  const single = await engine.decode(emb, prompt, { multimask: false });
  const multi = await engine.decode(emb, prompt, { multimask: true });
  const cat = (a: HostTensor, b: HostTensor): HostTensor => {
    const d = new Float32Array(a.data.length + b.data.length);
    d.set(toFloat32(a));
    d.set(toFloat32(b), a.data.length);
    return float32Tensor([1, a.shape[1] + b.shape[1], ...a.shape.slice(2)], d);
  };
  return {
    low: cat(single.lowResMasks, multi.lowResMasks),
    iou: cat(single.iouPredictions, multi.iouPredictions),
  };
}

const ioSignature = (m: ModelMessage, which: 'input' | 'output'): [string, (number | string)[]][] =>
  m.graph[which].map((v) => [
    v.name,
    (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? (d.dimParam ? '?' : '')),
  ]);

/** Prompt kinds and point counts N = 0 (mask only) … 9 sent to the decoder. */
function promptCases(cfg: SamConfig): { name: string; prompt: EnginePrompt }[] {
  const m = maskInputSize(cfg);
  const s = cfg.imgSize;
  const mask = seededTensor([1, 1, m, m], 11, -8, 8);
  const pts = (n: number, seed: number): [number, number][] =>
    Array.from({ length: n }, (_, i) => [
      ((seed * 37 + i * 53) % s) + 0.25,
      ((seed * 11 + i * 97) % s) + 0.75,
    ]);
  return [
    { name: 'mask only (N=0)', prompt: { maskInput: mask } },
    { name: 'one point + padding (N=2)', prompt: { pointCoords: pts(1, 1), pointLabels: [1] } },
    { name: 'box (N=2)', prompt: { box: [0.2 * s, 0.25 * s, 0.7 * s, 0.8 * s] } },
    {
      name: 'box + 3 points (N=5)',
      prompt: { pointCoords: pts(3, 2), pointLabels: [1, 0, 1], box: [10, 20, s - 30, s - 5] },
    },
    {
      name: '8 points + mask (N=9)',
      prompt: { pointCoords: pts(8, 3), pointLabels: [1, 0, 1, 1, 0, 0, 1, 0], maskInput: mask },
    },
  ];
}

/** Runs every prompt case through the export and the TF.js engine and checks all three outputs. */
async function checkAgainstTfjs(
  label: string,
  cfg: SamConfig,
  session: ort.InferenceSession,
  engine: SamEngine,
  emb: HostTensor,
): Promise<void> {
  const orig: [number, number] = [200, 240];
  for (const c of promptCases(cfg)) {
    const inputs = promptToDecoderInputs(cfg, emb, c.prompt);
    inputs.origImSize = float32Tensor([2], Float32Array.from(orig));
    const ours = await ortRun(session, feedsOf(inputs));
    const ref = await tfjsAllTokens(engine, emb, c.prompt);
    const masksRef = postprocessMasks(ref.low, inputSizeFor(orig, cfg.imgSize), orig, cfg.imgSize);
    const dl = diff(ours['low_res_masks'], ref.low, 'low_res_masks');
    const di = diff(ours['iou_predictions'], ref.iou, 'iou_predictions');
    const dm = diff(ours['masks'], masksRef, 'masks');
    // Trained weights give logits of tens: float32 noise alone (TF.js cpu vs wasm) is a few 1e-5 there.
    const scale = toFloat32(ref.low).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    report.add(`${label} ${c.name} vs TF.js: low_res_masks (max |logit| ${scale.toFixed(1)})`, dl);
    report.add(`${label} ${c.name} vs TF.js: iou_predictions`, di);
    report.add(`${label} ${c.name} vs TF.js + postprocessMasks: masks`, dm);
    expect(Math.max(dl, di, dm), c.name).toBeLessThanOrEqual(ATOL);
  }
}

describe('prompt decoder export, sam-mini (official fixture weights)', () => {
  const cfg = getPreset('sam-mini');
  let sd: StateDict;
  let bytes: Uint8Array;
  let session: ort.InferenceSession;
  let official: ort.InferenceSession;
  let engine: SamEngine;

  beforeAll(async () => {
    await useWasm();
    sd = loadFixture('sam-mini/sam-mini.safetensors');
    bytes = exportPromptDecoderOnnx(cfg, sd).model;
    session = await ortSession(bytes);
    official = await ortSession(fixturePath('onnx/sam-mini-decoder.onnx'));
    engine = createTfjsSamEngine(buildSam(cfg, sd));
  });
  afterAll(async () => {
    engine?.dispose();
    await session?.release();
    await official?.release();
  });

  it('has the official SamOnnxModel inputs and outputs (dynamic num_points)', () => {
    const ours = decodeModelProto(bytes);
    const theirs = decodeModelProto(readFileSync(fixturePath('onnx/sam-mini-decoder.onnx')));
    expect(ioSignature(ours, 'input')).toEqual(ioSignature(theirs, 'input'));
    expect(ioSignature(ours, 'input')[1]).toEqual(['point_coords', [1, '?', 2]]);
    expect(ours.graph.output.map((o) => o.name)).toEqual(theirs.graph.output.map((o) => o.name));
    expect(ioSignature(ours, 'output')).toEqual([
      ['masks', [1, 4, '?', '?']],
      ['iou_predictions', [1, 4]],
      ['low_res_masks', [1, 4, 64, 64]],
    ]);
  });

  for (const c of ['decA', 'decB'] as const) {
    it(`${c}: matches the PyTorch SamOnnxModel goldens and the official export on the same inputs`, async () => {
      const feeds: Feeds = {};
      for (const n of [
        'image_embeddings',
        'point_coords',
        'point_labels',
        'mask_input',
        'has_mask_input',
        'orig_im_size',
      ])
        feeds[n] = onnxGold(`${c}.${n}`);
      const ours = await ortRun(session, feeds);
      const theirs = await ortRun(official, feeds);
      for (const o of ['masks', 'iou_predictions', 'low_res_masks']) {
        const dg = report.add(`sam-mini ${c} ${o} vs golden`, diff(ours[o], onnxGold(`${c}.torch.${o}`), o));
        const dOff = report.add(`sam-mini ${c} ${o} vs official export`, diff(ours[o], theirs[o], o));
        expect(Math.max(dg, dOff), o).toBeLessThanOrEqual(ATOL);
      }
    });
  }

  it('matches the sam-mini decoder goldens for every prompt kind (single and multimask)', async () => {
    const pointsOf = (name: string): [number, number][] => {
      const d = toFloat32(gold(name));
      return Array.from({ length: d.length / 2 }, (_, i) => [d[2 * i], d[2 * i + 1]] as [number, number]);
    };
    const box = (name: string) => [...toFloat32(gold(name))] as [number, number, number, number];
    const cases: { name: string; prompt: EnginePrompt }[] = [
      {
        name: 'points',
        prompt: {
          pointCoords: [
            [100, 120],
            [180, 60],
          ],
          pointLabels: [1, 0],
        },
      },
      { name: 'box', prompt: { box: [48, 64, 200, 210] } },
      {
        name: 'box_points',
        prompt: {
          pointCoords: pointsOf('prompt.box_points.point_coords'),
          pointLabels: [...toFloat32(gold('prompt.box_points.point_labels'))],
          box: box('prompt.box_points.boxes'),
        },
      },
      { name: 'mask', prompt: { maskInput: gold('prompt.mask.mask_input') } },
      {
        name: 'points_mask',
        prompt: {
          pointCoords: pointsOf('prompt.points_mask.point_coords'),
          pointLabels: [...toFloat32(gold('prompt.points_mask.point_labels'))],
          maskInput: gold('prompt.points_mask.mask_input'),
        },
      },
    ];
    for (const c of cases) {
      const out = await ortRun(
        session,
        feedsOf(promptToDecoderInputs(cfg, gold('image_embeddings'), c.prompt)),
      );
      for (const [mode, first, count] of [
        ['single', 0, 1],
        ['multimask', 1, 3],
      ] as const) {
        const dl = diff(
          tokens(out['low_res_masks'], first, count),
          gold(`decoder.${c.name}.${mode}.low_res_masks`),
          c.name,
        );
        const di = diff(
          tokens(out['iou_predictions'], first, count),
          gold(`decoder.${c.name}.${mode}.iou_predictions`),
          c.name,
        );
        report.add(`sam-mini ${c.name}.${mode} low_res_masks vs golden`, dl);
        report.add(`sam-mini ${c.name}.${mode} iou_predictions vs golden`, di);
        expect(Math.max(dl, di), `${c.name}.${mode}`).toBeLessThanOrEqual(ATOL);
      }
    }
  });

  it('matches the TF.js engine for N = 0 … 9 prompt points, with and without a mask', async () => {
    await checkAgainstTfjs('sam-mini', cfg, session, engine, gold('image_embeddings'));
  });
});

describe('prompt decoder export, vit_b (official-sized decoder fixture: 256 channels, 64×64 grid)', () => {
  const cfg = getPreset('vit_b');
  let session: ort.InferenceSession;
  let sd: StateDict;

  beforeAll(async () => {
    await useWasm();
    sd = loadFixture('sam-vitb-decoder/sam-vitb-decoder.safetensors');
    session = await ortSession(exportPromptDecoderOnnx(cfg, sd).model);
  });
  afterAll(async () => {
    await session?.release();
  });

  const feedsFor = (name: 'box' | 'points'): Feeds => {
    let coords: number[];
    let labels: number[];
    if (name === 'box') {
      coords = [...toFloat32(vitbGold('box.boxes'))];
      labels = [2, 3];
    } else {
      // The official wrapper does not pad: append the (0,0)/−1 point the PromptEncoder would add.
      coords = [...toFloat32(vitbGold('points.point_coords')), 0, 0];
      labels = [...toFloat32(vitbGold('points.point_labels')), -1];
    }
    return {
      image_embeddings: vitbGold('image_embeddings'),
      point_coords: float32Tensor([1, labels.length, 2], Float32Array.from(coords)),
      point_labels: float32Tensor([1, labels.length], Float32Array.from(labels)),
      mask_input: float32Tensor([1, 1, 256, 256]),
      has_mask_input: float32Tensor([1], Float32Array.of(0)),
      orig_im_size: float32Tensor([2], Float32Array.of(300, 400)),
    };
  };

  it.each(['box', 'points'] as const)(
    'case %s matches the official goldens (single and multimask)',
    async (name) => {
      const out = await ortRun(session, feedsFor(name));
      expect(out['masks'].shape).toEqual([1, 4, 300, 400]);
      for (const [mode, first, count] of [
        ['single', 0, 1],
        ['multimask', 1, 3],
      ] as const) {
        const dl = diff(
          tokens(out['low_res_masks'], first, count),
          vitbGold(`${name}.${mode}.low_res_masks`),
          name,
        );
        const di = diff(
          tokens(out['iou_predictions'], first, count),
          vitbGold(`${name}.${mode}.iou_predictions`),
          name,
        );
        report.add(`vit_b ${name}.${mode} low_res_masks vs golden`, dl);
        report.add(`vit_b ${name}.${mode} iou_predictions vs golden`, di);
        expect(Math.max(dl, di), `${name}.${mode}`).toBeLessThanOrEqual(ATOL);
      }
    },
  );

  it('matches the TF.js prompt encoder + mask decoder (box case, all tokens)', async () => {
    const out = await ortRun(session, feedsFor('box'));
    const store = new ParamStore(sd);
    try {
      const pe = createPromptEncoder(cfg, store.scope('prompt_encoder'));
      const md = createMaskDecoder(cfg, store.scope('mask_decoder'));
      const res = tf.tidy(() => {
        const emb = tf.tensor4d(toFloat32(vitbGold('image_embeddings')), [1, 256, 64, 64]);
        const { sparse, dense } = pe.encode({ boxes: tf.tensor2d(toFloat32(vitbGold('box.boxes')), [1, 4]) });
        const all = md.predictMasks(emb, pe.denseEmbeddingPositional(), sparse, dense);
        return { masks: all.masks, iou: all.iou };
      });
      const low = float32Tensor([...res.masks.shape], res.masks.dataSync() as Float32Array);
      const iou = float32Tensor([...res.iou.shape], res.iou.dataSync() as Float32Array);
      tf.dispose([res.masks, res.iou]);
      const dl = report.add('vit_b box low_res_masks vs TF.js', diff(out['low_res_masks'], low, 'low'));
      const di = report.add('vit_b box iou_predictions vs TF.js', diff(out['iou_predictions'], iou, 'iou'));
      expect(Math.max(dl, di)).toBeLessThanOrEqual(ATOL);
    } finally {
      store.dispose();
    }
  });
});

describe('prompt decoder export, casam-tiny (shipped weights)', () => {
  it('matches the TF.js engine for N = 0 … 9 prompt points, with and without a mask', async () => {
    await useWasm();
    const cfg = getPreset('casam-tiny');
    const sd = loadSamWeights(CASAM_TINY, cfg);
    const session = await ortSession(exportPromptDecoderOnnx(cfg, sd).model);
    const engine = createTfjsSamEngine(buildSam(cfg, sd));
    try {
      const emb = await engine.embed(gold('input.preprocessed'));
      await checkAgainstTfjs('casam-tiny', cfg, session, engine, emb);
    } finally {
      engine.dispose();
      await session.release();
    }
  });
});
