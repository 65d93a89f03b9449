import { describe, expect, it } from 'vitest';
import { unstorableTextProblem } from '@casam/protocol';
import { storableText } from './storable-text';

describe('storableText', () => {
  it('replaces NULs and unpaired surrogates, and keeps everything else as it is', () => {
    expect(storableText('a@b.example\u0000')).toBe('a@b.example\ufffd');
    expect(storableText('\udc00a\ud800')).toBe('\ufffda\ufffd');
    expect(storableText('🫁 lungs\n\u202e')).toBe('🫁 lungs\n\u202e');
    for (const s of ['\u0000\ud800\udc00\udc00', '\ud800\ud800\udc00', 'x\udbff'])
      expect(unstorableTextProblem(storableText(s))).toBeNull();
  });
});
