import { describe, expect, it } from 'vitest';
import { getPreset } from '../sam/config';
import { alTrainingStepFlops, alignmentLayerMacs, maskDecoderMacs } from './training-flops';

describe('training FLOPs', () => {
  it("matches the spec's ≈14.5 GMAC per image for C = 256 at 64×64", () => {
    // 3 blocks × 2 convs × 9·256²·64² + ECA 3 × k(=5) × 256.
    expect(alignmentLayerMacs(256, 64)).toBe(14_495_514_624 + 3840);
    expect(alignmentLayerMacs(64, 16)).toBe(6 * 9 * 64 * 64 * 256 + 3 * 3 * 64);
  });

  it('counts the casam-tiny decoder per box prompt (hand-derived golden numbers)', () => {
    // C 64, 256 image tokens, 7 tokens (IoU + 4 mask + 2 box corners), MLP 256, cross-attention at 32.
    const m = maskDecoderMacs(getPreset('casam-tiny'), 2);
    expect(m.weight).toBe(7_690_496);
    expect(m.activation).toBe(717_056);
    expect(m.total).toBe(8_407_552);
    // More prompt tokens cost more.
    expect(maskDecoderMacs(getPreset('casam-tiny'), 4).total).toBeGreaterThan(m.total);
    // One mask made instead of four: three hypernetwork MLPs (2·64² + 64²/8) and three mask products
    // (16·256 positions · 8) fewer.
    const one = maskDecoderMacs(getPreset('casam-tiny'), 2, 1);
    expect(m.weight - one.weight).toBe(3 * (2 * 64 * 64 + (64 * 64) / 8));
    expect(m.activation - one.activation).toBe(3 * 16 * 256 * 8);
  });

  it('scales a step with images and prompts; backward = 2× AL forward, frozen decoder in between', () => {
    const cfg = getPreset('casam-tiny');
    const s = alTrainingStepFlops(cfg, { images: 6, prompts: 30 });
    const al = 2 * alignmentLayerMacs(64, 16) * 6;
    const dec = maskDecoderMacs(cfg, 2, 1); // training decodes single masks
    expect(s.alForward).toBe(al);
    expect(s.alBackward).toBe(2 * al);
    expect(s.decoderForward).toBe(2 * dec.total * 30);
    expect(s.decoderBackward).toBe(2 * (dec.weight + 2 * dec.activation) * 30);
    expect(s.total).toBe(s.alForward + s.alBackward + s.decoderForward + s.decoderBackward);
    expect(alTrainingStepFlops(cfg, { images: 12, prompts: 60 }).total).toBe(2 * s.total);
  });
});
