import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../testing/fixtures';
import { SafetensorsError, readSafetensors, writeSafetensors } from './safetensors';
import { float32Tensor } from '../tensor/host-tensor';

describe('safetensors', () => {
  it('reads the fixture weights: 202 tensors, in file order, with metadata', () => {
    const f = readSafetensors(readFileSync(fixturePath('sam-mini/sam-mini.safetensors')));
    expect(f.tensors.size).toBe(202);
    expect([...f.tensors.keys()][0]).toBe('image_encoder.pos_embed');
    expect(JSON.parse(f.metadata['config']).encoder_embed_dim).toBe(96);
  });

  it('round-trips tensors and metadata, header padded to 8 bytes', () => {
    const a = float32Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, -0.5]));
    const b = { dtype: 'uint8' as const, shape: [3], data: Uint8Array.from([7, 8, 9]) };
    const buf = writeSafetensors(
      [
        ['a', a],
        ['b', b],
      ],
      { task: 'x' },
    );
    expect(Number(new DataView(buf.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const back = readSafetensors(buf);
    expect(back.tensors.get('a')).toEqual(a);
    expect(back.tensors.get('b')).toEqual(b);
    expect(back.metadata).toEqual({ task: 'x' });
  });

  it('copes with a Node Buffer that is a view into a larger pool', () => {
    const buf = writeSafetensors([['t', float32Tensor([4], Float32Array.from([1, 2, 3, 4]))]]);
    const pool = Buffer.alloc(buf.length + 13);
    Buffer.from(buf).copy(pool, 5);
    const view = pool.subarray(5, 5 + buf.length); // not at offset 0 of its ArrayBuffer
    const t = readSafetensors(view).tensors.get('t')!;
    expect(Array.from(t.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(t.data.buffer.byteLength).toBe(16); // owns its bytes
  });

  it('rejects malformed files with a reason', () => {
    const good = writeSafetensors([['t', float32Tensor([4])]]);
    expect(() => readSafetensors(good.subarray(0, 4))).toThrow(/shorter than 8 bytes/);
    expect(() => readSafetensors(good.subarray(0, good.length - 1))).toThrow(SafetensorsError);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => readSafetensors(huge)).toThrow(/over the .*-byte limit/);
    const badJson = new Uint8Array(16);
    new DataView(badJson.buffer).setBigUint64(0, 8n, true);
    badJson.set(new TextEncoder().encode('{"a":1, '), 8);
    expect(() => readSafetensors(badJson)).toThrow(/not valid UTF-8 JSON/);
  });
});
