import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeImage, readSafetensors } from '@casam/casam-core';
import { expectClose, fixturePath, fixtureTensor } from '@casam/casam-core/testing';
import { embedImage } from './embed-image';

describe('embedImage (sam-mini on TF.js, wasm)', () => {
  it('returns image_embeddings [1,C,H,W] matching the official encoder, with the sizes as metadata', async () => {
    const path = fixturePath('sam-mini/test-image-256x256.png');
    const lines: string[] = [];
    const r = await embedImage({
      image: decodeImage(readFileSync(path), path),
      engine: 'tfjs',
      files: { model: 'sam-mini', checkpoint: fixturePath('sam-mini/sam-mini.pth'), backend: 'wasm' },
      log: (l) => lines.push(l),
    });
    const st = readSafetensors(r.bytes);
    const golden = fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'image_embeddings');
    expectClose(st.tensors.get('image_embeddings')!, golden, 1e-4, 'embedImage');
    expect(r.shape).toEqual([...golden.shape]);
    expect(st.metadata).toMatchObject({
      model: 'sam-mini',
      engine: 'tfjs',
      original_size: '[256,256]',
      layout: 'NCHW',
    });
    expect(lines.join('\n')).toMatch(/embedding 256×256 image at \d+ px…\n[\s\S]*embedded in [\d.]+ s/);
  }, 120_000);
});
