import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getPreset } from './config';
import { numel } from '../tensor/host-tensor';
import { fixturePath, loadFixture } from '../testing/fixtures';
import { expectedStateDict } from './expected-keys';

interface KeyList {
  num_tensors: number;
  num_elements: number;
  tensors: { name: string; shape: number[]; dtype: string }[];
}
const keyFile = JSON.parse(
  readFileSync(fixturePath('sam-vitb-decoder/sam-state-dict-keys.json'), 'utf8'),
) as Record<string, KeyList>;

describe('expectedStateDict', () => {
  for (const preset of ['vit_b', 'vit_l', 'vit_h']) {
    it(`${preset}: equals the official key list (names, shapes, order)`, () => {
      const want = keyFile[preset];
      const got = expectedStateDict(getPreset(preset));
      expect(got).toEqual(want.tensors.map((t) => ({ name: t.name, shape: t.shape })));
      expect(got.length).toBe(want.num_tensors);
      expect(got.reduce((s, t) => s + numel(t.shape), 0)).toBe(want.num_elements);
    });
  }

  it('sam-mini: equals the tensors of sam-mini.safetensors', () => {
    const sd = loadFixture('sam-mini/sam-mini.safetensors');
    expect(expectedStateDict(getPreset('sam-mini'))).toEqual(
      [...sd].map(([name, t]) => ({ name, shape: t.shape })),
    );
  });

  it('vit_b prompt_encoder + mask_decoder: equals sam-vitb-decoder.safetensors', () => {
    const sd = loadFixture('sam-vitb-decoder/sam-vitb-decoder.safetensors');
    const want = [...sd].map(([name, t]) => ({ name, shape: t.shape }));
    expect(expectedStateDict(getPreset('vit_b'), ['prompt_encoder', 'mask_decoder'])).toEqual(want);
    // parts are emitted in canonical order whatever order they are asked in
    expect(expectedStateDict(getPreset('vit_b'), ['mask_decoder', 'prompt_encoder'])).toEqual(want);
  });

  it('casam-tiny: window 8 gives 15-row rel_pos tables on windowed blocks, 31 on global ones', () => {
    const got = new Map(expectedStateDict(getPreset('casam-tiny')).map((t) => [t.name, t.shape]));
    expect(got.get('image_encoder.blocks.0.attn.rel_pos_h')).toEqual([15, 32]);
    expect(got.get('image_encoder.blocks.1.attn.rel_pos_w')).toEqual([31, 32]);
    expect(got.size).toBe(202);
  });

  it('only lists the requested parts', () => {
    const enc = expectedStateDict(getPreset('sam-mini'), ['image_encoder']);
    expect(enc.every((t) => t.name.startsWith('image_encoder.'))).toBe(true);
    expect(expectedStateDict(getPreset('sam-mini'), [])).toEqual([]);
  });
});
