import { describe, expect, it } from 'vitest';
import { getPreset } from '../sam/config';
import { HostTensor, StateDict, float32Tensor } from '../tensor/host-tensor';
import { fixturePath, loadFixture } from '../testing/fixtures';
import { CheckpointError } from './checkpoint';
import { expectedStateDict } from '../sam/expected-keys';
import { stateDictFingerprint } from './fingerprint';
import { writePth } from './pth-writer';
import { writeSafetensors } from './safetensors';
import { CheckpointMismatchError, loadSamWeights, validateStateDict } from './validate';

const mini = (): StateDict => new Map(loadFixture('sam-mini/sam-mini.safetensors'));
const MINI = getPreset('sam-mini');

function mismatch(f: () => unknown): CheckpointMismatchError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointMismatchError);
    return e as CheckpointMismatchError;
  }
  throw new Error('expected a CheckpointMismatchError');
}

/** Shape-only stand-ins: enough for key/shape checks without allocating a full-size model. */
function fakeStateDict(preset: string): StateDict {
  return new Map(
    expectedStateDict(getPreset(preset)).map((e) => [
      e.name,
      { dtype: 'float32', shape: e.shape, data: new Float32Array(0) },
    ]),
  );
}

describe('validateStateDict', () => {
  it('accepts the matching checkpoint, fully or by parts', () => {
    expect(() => validateStateDict(mini(), MINI)).not.toThrow();
    // other SAM parts are ignored, so a full checkpoint can feed a decoder-only model
    expect(() => validateStateDict(mini(), MINI, ['prompt_encoder', 'mask_decoder'])).not.toThrow();
  });

  it('sam-mini weights against vit_b: lists missing keys and wrong shapes, hints at sam-mini', () => {
    const e = mismatch(() => validateStateDict(mini(), getPreset('vit_b')));
    expect(e.missing.length).toBe(8 * 14); // blocks 4..11, 14 tensors each
    expect(e.missing[0]).toBe('image_encoder.blocks.4.norm1.weight');
    expect(e.unexpected).toEqual([]);
    expect(e.wrongShape[0]).toEqual({
      name: 'image_encoder.pos_embed',
      expected: [1, 64, 64, 768],
      actual: [1, 16, 16, 96],
    });
    expect(e.wrongShape.find((w) => w.name === 'prompt_encoder.point_embeddings.0.weight')).toEqual({
      name: 'prompt_encoder.point_embeddings.0.weight',
      expected: [1, 256],
      actual: [1, 64],
    });
    expect(e.message).toMatch(/does not match the vit_b model/);
    expect(e.message).toMatch(/missing \(112\): image_encoder\.blocks\.4\.norm1\.weight, .* and 102 more/);
    expect(e.message).toMatch(
      /wrong shape \(\d+\): image_encoder\.pos_embed \(expected \[1,64,64,768\], got \[1,16,16,96\]\)/,
    );
    expect(e.message).toContain('hint: this looks like a sam-mini checkpoint');
  });

  it('names exactly the removed, extra and reshaped tensors', () => {
    const sd = mini();
    sd.delete('mask_decoder.iou_token.weight');
    sd.set('mask_decoder.extra_head.weight', float32Tensor([2, 2]));
    const q = sd.get('image_encoder.blocks.1.attn.qkv.weight')!;
    sd.set('image_encoder.blocks.1.attn.qkv.weight', { ...q, shape: [96, 288] });
    const e = mismatch(() => validateStateDict(sd, MINI));
    expect(e.missing).toEqual(['mask_decoder.iou_token.weight']);
    expect(e.unexpected).toEqual(['mask_decoder.extra_head.weight']);
    expect(e.wrongShape).toEqual([
      { name: 'image_encoder.blocks.1.attn.qkv.weight', expected: [288, 96], actual: [96, 288] },
    ]);
    expect(e.wrongDtype).toEqual([]);
    expect(e.hints).toEqual([]); // right preset, just damaged: no misleading hint
    expect(e.message).toContain('missing (1): mask_decoder.iou_token.weight');
    expect(e.message).toContain('unexpected (1): mask_decoder.extra_head.weight');
    expect(e.message).not.toContain('more');
  });

  it('rejects non-float tensors and NaN/Inf values', () => {
    const sd = mini();
    sd.set('mask_decoder.iou_token.weight', { dtype: 'int64', shape: [1, 64], data: new BigInt64Array(64) });
    const w = sd.get('prompt_encoder.no_mask_embed.weight')!;
    const bad = Float32Array.from(w.data as Float32Array);
    bad[3] = NaN;
    bad[9] = -Infinity;
    sd.set('prompt_encoder.no_mask_embed.weight', float32Tensor([1, 64], bad));
    const e = mismatch(() => validateStateDict(sd, MINI));
    expect(e.wrongDtype).toEqual([{ name: 'mask_decoder.iou_token.weight', dtype: 'int64' }]);
    expect(e.nonFinite).toEqual([{ name: 'prompt_encoder.no_mask_embed.weight', count: 2 }]);
    expect(e.message).toMatch(/not floating-point \(1\): mask_decoder\.iou_token\.weight \(int64\)/);
    expect(e.message).toMatch(/NaN\/Inf values \(1\): prompt_encoder\.no_mask_embed\.weight \(2 values\)/);
  });

  it('hints at the preset an official-size checkpoint belongs to', () => {
    const e = mismatch(() => validateStateDict(fakeStateDict('vit_l'), getPreset('vit_b')));
    expect(e.message).toContain('this looks like a vit_l checkpoint');
    expect(e.missing).toEqual([]);
    expect(e.unexpected.length).toBe(12 * 14); // blocks 12..23
    // casam-tiny differs from sam-mini only in its window size (rel_pos tables)
    const t = mismatch(() => validateStateDict(fakeStateDict('casam-tiny'), MINI));
    expect(t.wrongShape.map((w) => w.name)).toEqual([
      'image_encoder.blocks.0.attn.rel_pos_h',
      'image_encoder.blocks.0.attn.rel_pos_w',
      'image_encoder.blocks.2.attn.rel_pos_h',
      'image_encoder.blocks.2.attn.rel_pos_w',
    ]);
    expect(t.message).toContain('this looks like a casam-tiny checkpoint');
    // no preset fits: describe the encoder and name the preset of the same size
    const partial = fakeStateDict('vit_h');
    partial.delete('mask_decoder.iou_token.weight');
    const h = mismatch(() => validateStateDict(partial, getPreset('vit_b')));
    expect(h.message).toContain("the checkpoint's image encoder has 32 blocks of width 1280, like vit_h");
  });

  it('spots DataParallel "module." prefixes', () => {
    const sd = new Map([...mini()].map(([k, v]) => [`module.${k}`, v] as [string, HostTensor]));
    const e = mismatch(() => validateStateDict(sd, MINI));
    expect(e.message).toContain('"module."');
    expect(e.unexpected.length).toBe(202);
  });
});

describe('loadSamWeights', () => {
  it('loads .pth and .safetensors paths to the same float32 tensors', () => {
    const a = loadSamWeights(fixturePath('sam-mini/sam-mini.pth'), MINI);
    const b = loadSamWeights(fixturePath('sam-mini/sam-mini.safetensors'), MINI);
    expect(a.size).toBe(202);
    expect(stateDictFingerprint(a)).toBe(stateDictFingerprint(b));
    expect([...a.values()].every((t) => t.dtype === 'float32' && t.data instanceof Float32Array)).toBe(true);
  });

  it('converts float64/float16/bfloat16 checkpoints to float32', () => {
    const src = mini();
    const f64 = new Map(
      [...src].map(
        ([k, t]) =>
          [k, { dtype: 'float64', shape: t.shape, data: Float64Array.from(t.data as Float32Array) }] as [
            string,
            HostTensor,
          ],
      ),
    );
    const sd = loadSamWeights(writePth(f64), MINI);
    expect(stateDictFingerprint(sd)).toBe(stateDictFingerprint(src)); // float64 holds float32 values exactly
    // half precision: 1.0, -2.0 and 0.5 are exact in both
    const halfish = mini();
    halfish.set('mask_decoder.iou_token.weight', {
      dtype: 'float16',
      shape: [1, 64],
      data: new Uint16Array(64).fill(0x3c00).fill(0xc000, 1, 2),
    });
    halfish.set('prompt_encoder.no_mask_embed.weight', {
      dtype: 'bfloat16',
      shape: [1, 64],
      data: new Uint16Array(64).fill(0x3f00),
    });
    const h = loadSamWeights(writeSafetensors(halfish), MINI);
    const tok = h.get('mask_decoder.iou_token.weight')!;
    expect(tok.dtype).toBe('float32');
    expect(Array.from(tok.data as Float32Array).slice(0, 3)).toEqual([1, -2, 1]);
    expect((h.get('prompt_encoder.no_mask_embed.weight')!.data as Float32Array)[5]).toBe(0.5);
  });

  it('returns only the requested parts, in official order', () => {
    const sd = loadSamWeights(fixturePath('sam-mini/sam-mini.pth'), MINI, ['mask_decoder']);
    expect([...sd.keys()]).toEqual(expectedStateDict(MINI, ['mask_decoder']).map((e) => e.name));
  });

  it('throws instead of returning a half-loaded model', () => {
    const e = mismatch(() => loadSamWeights(fixturePath('sam-mini/sam-mini.pth'), getPreset('vit_b')));
    expect(e.message).toMatch(/sam-mini\.pth: checkpoint does not match the vit_b model/);
    expect(() => loadSamWeights(new TextEncoder().encode('nonsense bytes'), MINI)).toThrow(CheckpointError);
  });
});
