import { describe, expect, it } from 'vitest';
import { adapterKindText } from './adapter-kind';

describe('adapterKindText', () => {
  it('names the Alignment Layer alone, or with the decoder delta in numbers', () => {
    expect(adapterKindText({ decoderLora: null })).toBe('Alignment Layer');
    expect(adapterKindText({ decoderLora: { rank: 4, alpha: 8, layers: 30 } })).toBe(
      'Alignment Layer + decoder LoRA (rank 4, 30 layers)',
    );
    expect(adapterKindText({ decoderLora: { rank: 1, alpha: 1, layers: 1 } })).toBe(
      'Alignment Layer + decoder LoRA (rank 1, 1 layer)',
    );
  });
});
