import { describe, expect, it } from 'vitest';
import { getPreset, toFloat32 } from '@casam/casam-core';
import { initSamStateDict } from './init-weights';
import { WarmStartError, warmStartStateDict } from './warm-start';

const tiny = getPreset('casam-tiny');
const small = getPreset('casam-small');

describe('warmStartStateDict (casam-tiny → casam-small)', () => {
  const sd = initSamStateDict(tiny, 3);
  const { weights, report } = warmStartStateDict(tiny, sd, small);

  it('copies every tensor of unchanged shape and resamples only the grid-dependent ones', () => {
    expect(report.resampled.sort()).toEqual(
      [
        'image_encoder.patch_embed.proj.weight',
        'image_encoder.pos_embed',
        'image_encoder.blocks.1.attn.rel_pos_h',
        'image_encoder.blocks.1.attn.rel_pos_w',
        'image_encoder.blocks.3.attn.rel_pos_h',
        'image_encoder.blocks.3.attn.rel_pos_w',
      ].sort(),
    );
    expect(report.copied + report.resampled.length).toBe(weights.size);
    const w = 'mask_decoder.output_upscaling.0.weight';
    expect(toFloat32(weights.get(w)!)).toEqual(toFloat32(sd.get(w)!));
    expect(weights.get('image_encoder.pos_embed')!.shape).toEqual([1, 32, 32, 96]);
    expect(weights.get('image_encoder.blocks.1.attn.rel_pos_h')!.shape).toEqual([63, 32]);
    expect(weights.get('image_encoder.blocks.0.attn.rel_pos_h')!.shape).toEqual([15, 32]);
  });

  it('keeps the patch response to a constant image: each 8-px kernel sums the 2×2 cells it covers', () => {
    const big = toFloat32(sd.get('image_encoder.patch_embed.proj.weight')!); // [96,3,16,16]
    const fine = toFloat32(weights.get('image_encoder.patch_embed.proj.weight')!); // [96,3,8,8]
    for (const plane of [0, 5, 287]) {
      let a = 0;
      let b = 0;
      for (let i = 0; i < 256; i++) a += big[plane * 256 + i];
      for (let i = 0; i < 64; i++) b += fine[plane * 64 + i];
      expect(b).toBeCloseTo(a, 4);
    }
    // One cell by hand: fine(0,0) = big(0,0)+big(0,1)+big(1,0)+big(1,1).
    expect(fine[0]).toBeCloseTo(big[0] + big[1] + big[16] + big[17], 6);
  });

  it('resizes pos_embed bilinearly: corners stay near the old corners, a constant channel stays constant', () => {
    const src = initSamStateDict(tiny, 4);
    const pe = toFloat32(src.get('image_encoder.pos_embed')!);
    for (let i = 0; i < 16 * 16; i++) pe[i * 96] = 0.25; // channel 0 constant
    const out = toFloat32(warmStartStateDict(tiny, src, small).weights.get('image_encoder.pos_embed')!);
    for (let i = 0; i < 32 * 32; i++) expect(out[i * 96]).toBeCloseTo(0.25, 6);
    // The new (0,0) cell lies at old coordinate −0.25, clamped to the old (0,0).
    expect(out[1]).toBeCloseTo(pe[1], 6);
  });

  it('refuses weights of another width, naming the tensor', () => {
    expect(() => warmStartStateDict(getPreset('casam-tiny'), sd, getPreset('vit_b'))).toThrow(WarmStartError);
    expect(() => warmStartStateDict(getPreset('casam-tiny'), sd, getPreset('vit_b'))).toThrow(
      /only the patch size/,
    );
  });
});
