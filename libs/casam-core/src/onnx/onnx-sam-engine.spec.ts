import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPreset } from '../sam/config';
import { EnginePrompt } from '../sam/engine';
import { HostTensor, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { expectClose, fixturePath, fixtureTensor } from '../testing/fixtures';
import { OnnxModelError, OnnxSamEngine, createOnnxSamEngine, promptToDecoderInputs } from './onnx-sam-engine';

const GOLD = 'sam-mini/sam-mini-golden.safetensors';
const ONNX_GOLD = 'onnx/onnx-golden.safetensors';
const gold = (name: string) => fixtureTensor(GOLD, name);
const onnxGold = (name: string) => fixtureTensor(ONNX_GOLD, name);

const ENCODER = fixturePath('onnx/sam-mini-encoder.onnx');
const DECODER = fixturePath('onnx/sam-mini-decoder.onnx');
const DEC_ATOL = 1e-5;

/** expectClose on any float HostTensor (the helper takes number data). */
function close(actual: HostTensor, golden: HostTensor, atol: number, label: string): number {
  return expectClose({ shape: actual.shape, data: toFloat32(actual) }, golden, atol, label);
}

/** [1,4,...] all-token tensor → tokens [first, first+count) as a [1,count,...] tensor. */
function tokens(t: HostTensor, first: number, count: number): HostTensor {
  const per = t.shape.slice(2).reduce((a, b) => a * b, 1);
  const data = toFloat32(t).slice(first * per, (first + count) * per);
  return float32Tensor([1, count, ...t.shape.slice(2)], data);
}

function pointsOf(name: string): [number, number][] {
  const d = toFloat32(gold(name));
  const out: [number, number][] = [];
  for (let i = 0; i < d.length; i += 2) out.push([d[i], d[i + 1]]);
  return out;
}

describe('createOnnxSamEngine (sam-mini exports on onnxruntime-node CPU)', () => {
  let engine: OnnxSamEngine;

  beforeAll(async () => {
    engine = await createOnnxSamEngine({
      config: getPreset('sam-mini'),
      encoderPath: ENCODER,
      decoderPath: DECODER,
      threads: 1,
    });
  });
  afterAll(() => engine?.dispose());

  it('is an onnx engine with the given config', () => {
    expect(engine.kind).toBe('onnx');
    expect(engine.config.name).toBe('sam-mini');
  });

  it('encoder matches the PyTorch image embeddings', async () => {
    const emb = await engine.embed(gold('input.preprocessed'));
    const dTorch = close(emb, onnxGold('encoder.torch.image_embeddings'), 1e-4, 'encoder vs onnx-golden');
    const dMini = close(emb, gold('image_embeddings'), 1e-4, 'encoder vs sam-mini-golden');
    console.log(
      `onnx encoder: max abs diff ${dTorch.toExponential(2)} (onnx-golden), ${dMini.toExponential(2)} (sam-mini)`,
    );
  });

  for (const c of ['decA', 'decB'] as const) {
    it(`runDecoderRaw(${c}) matches the PyTorch SamOnnxModel outputs`, async () => {
      const out = await engine.runDecoderRaw({
        imageEmbeddings: onnxGold(`${c}.image_embeddings`),
        pointCoords: onnxGold(`${c}.point_coords`),
        pointLabels: onnxGold(`${c}.point_labels`),
        maskInput: onnxGold(`${c}.mask_input`),
        hasMaskInput: onnxGold(`${c}.has_mask_input`),
        origImSize: onnxGold(`${c}.orig_im_size`),
      });
      const dm = close(out.masks, onnxGold(`${c}.torch.masks`), DEC_ATOL, `${c} masks`);
      const di = close(out.iouPredictions, onnxGold(`${c}.torch.iou_predictions`), DEC_ATOL, `${c} iou`);
      const dl = close(out.lowResMasks, onnxGold(`${c}.torch.low_res_masks`), DEC_ATOL, `${c} low_res`);
      console.log(
        `onnx ${c}: masks ${dm.toExponential(2)}, iou ${di.toExponential(2)}, low_res ${dl.toExponential(2)}`,
      );
    });
  }

  describe('decode() maps prompts like the official predictor', () => {
    const cases: { name: string; emb: string; prompt: () => EnginePrompt }[] = [
      // decA's prompt: two points, no box → a (0,0)/−1 padding point is appended.
      {
        name: 'points',
        emb: 'image_embeddings',
        prompt: () => ({
          pointCoords: [
            [100, 120],
            [180, 60],
          ],
          pointLabels: [1, 0],
        }),
      },
      // Box only → two corners with labels 2,3 and no padding point.
      { name: 'box', emb: 'image_embeddings', prompt: () => ({ box: [48, 64, 200, 210] }) },
      {
        name: 'box_points',
        emb: 'image_embeddings',
        prompt: () => ({
          pointCoords: pointsOf('prompt.box_points.point_coords'),
          pointLabels: [...toFloat32(gold('prompt.box_points.point_labels'))],
          box: [...toFloat32(gold('prompt.box_points.boxes'))] as [number, number, number, number],
        }),
      },
      // Mask only → no sparse tokens at all (N = 0), as PromptEncoder(points=None, boxes=None).
      {
        name: 'mask',
        emb: 'image_embeddings',
        prompt: () => ({ maskInput: gold('prompt.mask.mask_input') }),
      },
      {
        name: 'points_mask',
        emb: 'image_embeddings',
        prompt: () => ({
          pointCoords: pointsOf('prompt.points_mask.point_coords'),
          pointLabels: [...toFloat32(gold('prompt.points_mask.point_labels'))],
          maskInput: gold('prompt.points_mask.mask_input'),
        }),
      },
    ];
    for (const c of cases) {
      for (const mode of ['multimask', 'single'] as const) {
        it(`${c.name} (${mode})`, async () => {
          const res = await engine.decode(gold(c.emb), c.prompt(), { multimask: mode === 'multimask' });
          const dl = close(
            res.lowResMasks,
            gold(`decoder.${c.name}.${mode}.low_res_masks`),
            DEC_ATOL,
            'low_res',
          );
          const di = close(
            res.iouPredictions,
            gold(`decoder.${c.name}.${mode}.iou_predictions`),
            DEC_ATOL,
            'iou',
          );
          console.log(
            `onnx decode ${c.name}.${mode}: low_res ${dl.toExponential(2)}, iou ${di.toExponential(2)}`,
          );
        });
      }
    }

    it('resize case (transformed points and box) matches the official pipeline', async () => {
      const emb = gold('resize.image_embeddings');
      const pts = await engine.decode(
        emb,
        { pointCoords: pointsOf('resize.points.point_coords'), pointLabels: [1, 0] },
        { multimask: true },
      );
      close(
        pts.lowResMasks,
        gold('resize.points.multimask.low_res_masks'),
        DEC_ATOL,
        'resize points low_res',
      );
      close(
        pts.iouPredictions,
        gold('resize.points.multimask.iou_predictions'),
        DEC_ATOL,
        'resize points iou',
      );
      const box = [...toFloat32(gold('resize.box.boxes'))] as [number, number, number, number];
      const bx = await engine.decode(emb, { box }, { multimask: false });
      close(bx.lowResMasks, gold('resize.box.single.low_res_masks'), DEC_ATOL, 'resize box low_res');
      close(bx.iouPredictions, gold('resize.box.single.iou_predictions'), DEC_ATOL, 'resize box iou');
    });

    it("decB's prompt (points + box + mask) through decode() matches the PyTorch wrapper tokens", async () => {
      const coords = toFloat32(onnxGold('decB.point_coords'));
      const prompt: EnginePrompt = {
        pointCoords: [
          [coords[0], coords[1]],
          [coords[2], coords[3]],
        ],
        pointLabels: [1, 0],
        box: [coords[4], coords[5], coords[6], coords[7]],
        maskInput: onnxGold('decB.mask_input'),
      };
      const inputs = promptToDecoderInputs(engine.config, onnxGold('decB.image_embeddings'), prompt);
      expect([...toFloat32(inputs.pointLabels)]).toEqual([...toFloat32(onnxGold('decB.point_labels'))]);
      expect([...toFloat32(inputs.pointCoords)]).toEqual([...coords]);
      const emb = onnxGold('decB.image_embeddings');
      const multi = await engine.decode(emb, prompt, { multimask: true });
      close(multi.lowResMasks, tokens(onnxGold('decB.torch.low_res_masks'), 1, 3), DEC_ATOL, 'decB multi');
      close(multi.iouPredictions, tokens(onnxGold('decB.torch.iou_predictions'), 1, 3), DEC_ATOL, 'decB iou');
      const single = await engine.decode(emb, prompt, { multimask: false });
      close(single.lowResMasks, tokens(onnxGold('decB.torch.low_res_masks'), 0, 1), DEC_ATOL, 'decB single');
      close(
        single.iouPredictions,
        tokens(onnxGold('decB.torch.iou_predictions'), 0, 1),
        DEC_ATOL,
        'decB iou1',
      );
    });

    it('concurrent calls are serialised and give the same results', async () => {
      const emb = gold('image_embeddings');
      const prompt: EnginePrompt = { box: [48, 64, 200, 210] };
      const runs = await Promise.all([
        engine.decode(emb, prompt, { multimask: true }),
        engine.embed(gold('input.preprocessed')),
        engine.decode(emb, prompt, { multimask: true }),
      ]);
      const a = runs[0] as { lowResMasks: HostTensor };
      const b = runs[2] as { lowResMasks: HostTensor };
      expect(toFloat32(b.lowResMasks)).toEqual(toFloat32(a.lowResMasks));
    });

    it('rejects malformed prompts and inputs', async () => {
      const emb = gold('image_embeddings');
      await expect(
        engine.decode(emb, { pointCoords: [[1, 2]], pointLabels: [] }, { multimask: true }),
      ).rejects.toThrow(/1 points but 0 labels/);
      await expect(
        engine.decode(emb, { pointCoords: [[1, 2]], pointLabels: [2] }, { multimask: true }),
      ).rejects.toThrow(/point label 2/);
      await expect(
        engine.decode(emb, { maskInput: float32Tensor([1, 1, 32, 32]) }, { multimask: true }),
      ).rejects.toThrow(/maskInput: shape \[1,1,32,32\], expected \[1,1,64,64\]/);
      await expect(engine.decode(float32Tensor([1, 64, 8, 8]), {}, { multimask: true })).rejects.toThrow(
        /image_embeddings: shape/,
      );
      await expect(engine.embed(float32Tensor([1, 3, 128, 128]))).rejects.toThrow(/expected \[1,3,256,256\]/);
    });
  });
});

describe('promptToDecoderInputs', () => {
  const cfg = getPreset('sam-mini');
  const emb = float32Tensor([1, 64, 16, 16]);
  it('appends a padding point when there is no box', () => {
    const r = promptToDecoderInputs(cfg, emb, { pointCoords: [[1, 2]], pointLabels: [1] });
    expect(r.pointCoords.shape).toEqual([1, 2, 2]);
    expect([...toFloat32(r.pointCoords)]).toEqual([1, 2, 0, 0]);
    expect([...toFloat32(r.pointLabels)]).toEqual([1, -1]);
    expect([...toFloat32(r.hasMaskInput)]).toEqual([0]);
    expect(r.maskInput.shape).toEqual([1, 1, 64, 64]);
    expect(toFloat32(r.maskInput).every((v) => v === 0)).toBe(true);
  });
  it('puts box corners (labels 2, 3) after the points and adds no padding point', () => {
    const r = promptToDecoderInputs(cfg, emb, { pointCoords: [[1, 2]], pointLabels: [0], box: [3, 4, 5, 6] });
    expect([...toFloat32(r.pointCoords)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...toFloat32(r.pointLabels)]).toEqual([0, 2, 3]);
  });
  it('sends no points for a mask-only prompt and sets has_mask_input', () => {
    const r = promptToDecoderInputs(cfg, emb, { maskInput: float32Tensor([1, 1, 64, 64]) });
    expect(r.pointCoords.shape).toEqual([1, 0, 2]);
    expect(r.pointLabels.shape).toEqual([1, 0]);
    expect([...toFloat32(r.hasMaskInput)]).toEqual([1]);
  });
});

describe('createOnnxSamEngine load-time errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the mismatch when the exports do not fit the preset', async () => {
    const err = await createOnnxSamEngine({
      config: getPreset('vit_b'),
      encoderPath: ENCODER,
      decoderPath: DECODER,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxModelError);
    expect((err as Error).message).toMatch(
      /encoder model .*sam-mini-encoder\.onnx: input "image" has shape \[1,3,256,256\] but preset "vit_b" expects \[1,3,1024,1024\]/,
    );
  });

  it('checks the decoder against the preset too', async () => {
    const cfg = { ...getPreset('sam-mini'), promptEmbedDim: 32 };
    await expect(
      createOnnxSamEngine({ config: cfg, encoderPath: ENCODER, decoderPath: DECODER }),
    ).rejects.toThrow(
      /decoder model .*: input "image_embeddings" has shape \[1,64,16,16\] but preset "sam-mini" expects \[1,32,16,16\]/,
    );
  });

  it('rejects files that are not the right SAM export', async () => {
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: DECODER, decoderPath: DECODER }),
    ).rejects.toThrow(/is not a SAM image-encoder export: its inputs are \[image_embeddings, point_coords/);
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: ENCODER, decoderPath: ENCODER }),
    ).rejects.toThrow(/is not a SAM decoder \(SamOnnxModel\) export: its inputs are \[image\]/);
  });

  it('reports a missing file', async () => {
    const missing = join(dir, 'nope.onnx');
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: missing, decoderPath: DECODER }),
    ).rejects.toThrow(`ONNX encoder model not found: ${missing}`);
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: ENCODER, decoderPath: missing }),
    ).rejects.toThrow(`ONNX decoder model not found: ${missing}`);
  });

  it('reports garbage bytes and empty files', async () => {
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, Buffer.from('definitely not a protobuf \u0001\u0002\u00ff\u00fe', 'latin1'));
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: garbage, decoderPath: DECODER }),
    ).rejects.toThrow(
      /failed to load ONNX encoder model .*garbage\.onnx \(the file is not a valid ONNX model/,
    );
    const empty = join(dir, 'empty.onnx');
    writeFileSync(empty, new Uint8Array(0));
    await expect(
      createOnnxSamEngine({ config: getPreset('sam-mini'), encoderPath: ENCODER, decoderPath: empty }),
    ).rejects.toThrow(/ONNX decoder model .*empty\.onnx is empty/);
  });

  it('rejects a bad thread count', async () => {
    await expect(
      createOnnxSamEngine({
        config: getPreset('sam-mini'),
        encoderPath: ENCODER,
        decoderPath: DECODER,
        threads: 0,
      }),
    ).rejects.toThrow(/threads must be a positive integer/);
  });

  it('refuses work after dispose', async () => {
    const e = await createOnnxSamEngine({
      config: getPreset('sam-mini'),
      encoderPath: ENCODER,
      decoderPath: DECODER,
    });
    e.dispose();
    e.dispose();
    await expect(
      e.decode(gold('image_embeddings'), { box: [1, 2, 3, 4] }, { multimask: true }),
    ).rejects.toThrow(/disposed/);
  });
});
