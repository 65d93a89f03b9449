import { describe, expect, it } from 'vitest';
import { getPreset } from '../sam/config';
import { randomSamStateDict } from '../sam/random-weights';
import { float32Tensor } from '../tensor/host-tensor';
import { exportPromptDecoderOnnx } from './export/decoder-graph';
import { decodeModelProto, encodeModelProto } from './export/onnx-proto';
import { ortRun, ortSession, seededTensor } from './export/onnx-export.testing';
import { pruneOnnxOutputs } from './prune-graph';

const cfg = getPreset('casam-tiny');
const decoder = exportPromptDecoderOnnx(cfg, randomSamStateDict(cfg, 5)).model;
const KEEP = ['iou_predictions', 'low_res_masks'];

describe('pruneOnnxOutputs', () => {
  it("cuts the decoder to decode()'s two outputs: the same numbers, without the masks upscaling", async () => {
    const cut = pruneOnnxOutputs(decoder, KEEP, ['masks']);
    expect(cut).not.toBeNull();
    const before = decodeModelProto(decoder).graph;
    const after = decodeModelProto(cut!).graph;
    expect(after.output.map((o) => o.name)).toEqual(KEEP);
    // orig_im_size only sizes the upscaled masks.
    expect(after.input.map((i) => i.name)).toEqual(
      before.input.map((i) => i.name).filter((n) => n !== 'orig_im_size'),
    );
    expect(before.node.some((n) => n.opType === 'Resize')).toBe(true);
    expect(after.node.some((n) => n.opType === 'Resize')).toBe(false);
    expect(after.node.length).toBeLessThan(before.node.length - 20);
    // Every initializer left is read by a node left.
    const read = new Set(after.node.flatMap((n) => n.input));
    expect(after.initializer.every((t) => read.has(t.name))).toBe(true);

    const m = 4 * (cfg.imgSize / cfg.patchSize);
    const feeds = {
      image_embeddings: seededTensor([1, cfg.promptEmbedDim, m / 4, m / 4], 1),
      point_coords: float32Tensor([1, 3, 2], Float32Array.of(100, 90, 20, 30, 200, 170)),
      point_labels: float32Tensor([1, 3], Float32Array.of(1, 2, 3)),
      mask_input: seededTensor([1, 1, m, m], 2),
      has_mask_input: float32Tensor([1], Float32Array.of(1)),
    };
    const full = await ortRun(await ortSession(decoder), {
      ...feeds,
      orig_im_size: float32Tensor([2], Float32Array.of(cfg.imgSize, cfg.imgSize)),
    });
    const fast = await ortRun(await ortSession(cut!), feeds);
    expect(Object.keys(fast).sort()).toEqual(KEEP);
    for (const k of KEEP) expect(fast[k].data).toEqual(full[k].data); // bit for bit: the same kernels run
  });

  it('leaves alone what it cannot rewrite faithfully, or where nothing would go', () => {
    // A field outside the declared schema subset (field 99, varint) is dropped by a decode: no round trip.
    const foreign = new Uint8Array([...decoder, (99 << 3) | 0, 1]);
    expect(pruneOnnxOutputs(foreign, KEEP, ['masks'])).toBeNull();
    // Weights in a side file would be looked up next to an in-memory model that has no path.
    const m = decodeModelProto(decoder);
    const t = m.graph.initializer.find((x) => (x.rawData?.length ?? 0) > 1024)!;
    Object.assign(t, {
      rawData: undefined,
      dataLocation: 1,
      externalData: [{ key: 'location', value: 'w.bin' }],
    });
    expect(pruneOnnxOutputs(encodeModelProto(m), KEEP, ['masks'])).toBeNull();
    // An output the caller expects to cut, or to keep, that the file does not have.
    expect(pruneOnnxOutputs(decoder, KEEP, ['upscaled'])).toBeNull();
    expect(pruneOnnxOutputs(decoder, ['low_res_logits'])).toBeNull();
    // Keeping every output removes nothing.
    expect(pruneOnnxOutputs(decoder, ['masks', ...KEEP])).toBeNull();
    expect(pruneOnnxOutputs(new Uint8Array([1, 2, 3]), KEEP)).toBeNull();
  });
});
