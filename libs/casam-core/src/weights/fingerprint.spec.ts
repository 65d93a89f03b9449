import { describe, expect, it } from 'vitest';
import { HostTensor, StateDict, float32Tensor } from '../tensor/host-tensor';
import { fixturePath, loadFixture } from '../testing/fixtures';
import { readCheckpoint } from './checkpoint';
import { stateDictFingerprint } from './fingerprint';

/**
 * The sam-mini fingerprint under encoding v1. The federation pins base models by this string, so a change here
 * means every deployed pin breaks: only change it together with a new encoding version.
 */
const SAM_MINI_FINGERPRINT = 'sha256:044f5b8513085e46348779c5fabcf4302971e783acf5fdd283f86dd342344e68';

describe('stateDictFingerprint', () => {
  it('gives the same pinned fingerprint for sam-mini.pth and sam-mini.safetensors', () => {
    const pth = stateDictFingerprint(readCheckpoint(fixturePath('sam-mini/sam-mini.pth')));
    const st = stateDictFingerprint(readCheckpoint(fixturePath('sam-mini/sam-mini.safetensors')));
    expect(pth).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pth).toBe(st);
    expect(pth).toBe(SAM_MINI_FINGERPRINT);
  });

  it('ignores tensor order but not names, shapes, values or dtype class', () => {
    const sd = loadFixture('sam-mini/sam-mini.safetensors');
    const base = stateDictFingerprint(sd);
    expect(stateDictFingerprint(new Map([...sd].reverse()))).toBe(base);

    const renamed: StateDict = new Map([...sd].map(([k, v], i) => [i === 0 ? k + 'x' : k, v]));
    expect(stateDictFingerprint(renamed)).not.toBe(base);

    const first = sd.get('image_encoder.pos_embed')!;
    const reshaped = new Map(sd).set('image_encoder.pos_embed', { ...first, shape: [1, 256, 96] });
    expect(stateDictFingerprint(reshaped)).not.toBe(base);

    const oneBit = Float32Array.from(first.data as Float32Array);
    new Uint32Array(oneBit.buffer)[1000] ^= 1; // flip the lowest mantissa bit of one value
    expect(
      stateDictFingerprint(new Map(sd).set('image_encoder.pos_embed', float32Tensor(first.shape, oneBit))),
    ).not.toBe(base);
  });

  it('hashes float tensors by their float32 values, integers by their own dtype', () => {
    const f32 = new Map([['w', float32Tensor([3], Float32Array.of(1.5, -2, 0.25))]]);
    const f64: StateDict = new Map([
      ['w', { dtype: 'float64', shape: [3], data: Float64Array.of(1.5, -2, 0.25) } as HostTensor],
    ]);
    const f16: StateDict = new Map([
      ['w', { dtype: 'float16', shape: [3], data: Uint16Array.of(0x3e00, 0xc000, 0x3400) } as HostTensor],
    ]);
    expect(stateDictFingerprint(f64)).toBe(stateDictFingerprint(f32));
    expect(stateDictFingerprint(f16)).toBe(stateDictFingerprint(f32));
    const i32: StateDict = new Map([
      ['w', { dtype: 'int32', shape: [3], data: Int32Array.of(1, 2, 3) } as HostTensor],
    ]);
    const asF32 = new Map([['w', float32Tensor([3], new Float32Array(Int32Array.of(1, 2, 3).buffer))]]);
    expect(stateDictFingerprint(i32)).not.toBe(stateDictFingerprint(asF32)); // same bytes, different dtype
    expect(stateDictFingerprint(new Map())).toMatch(/^sha256:/);
  });
});
