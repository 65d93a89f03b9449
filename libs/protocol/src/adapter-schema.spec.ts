import { describe, expect, it } from 'vitest';
import { AdapterValidationError, peekAdapterChannels, validateAdapterFile } from './adapter-file-validation';
import {
  BASE_MODEL_PRESETS,
  InvalidChannelsError,
  expectedAdapterSchema,
  findBaseModelPreset,
  isBaseModelPresetName,
  specParameterCount,
} from './adapter-schema';

const FINGERPRINT = 'sha256:' + 'cd'.repeat(32);

/** A minimal safetensors writer (compact header padded to 8 bytes), so this lib's spec needs no other lib. */
function safetensors(
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  meta: object,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { casam: JSON.stringify(meta) } };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const hb = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let at = 8 + hb.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

function metadata(channels: number): object {
  return {
    format: 'casam-adapter',
    version: 1,
    taskId: 'task-1',
    baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT },
    channels,
    tau: { tau: 1.5, p95: 1.2, p99: 1.8, mean: 1, std: 0.25, n: 40, percentile: 97 },
    metrics: { dice: 0.8 },
    createdAt: '2026-02-01T00:00:00.000Z',
  };
}

function adapterTensors(channels: number, fill = (i: number) => (i % 7) / 10) {
  return expectedAdapterSchema(channels).map((s) => {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = fill(i);
    return { name: s.name, shape: s.shape, data };
  });
}

function problemsOf(buf: Uint8Array, channels: number): string[] {
  try {
    validateAdapterFile(buf, { channels });
  } catch (e) {
    expect(e).toBeInstanceOf(AdapterValidationError);
    return (e as AdapterValidationError).problems;
  }
  throw new Error('the file was accepted');
}

describe('base-model presets', () => {
  it('maps every SAM preset to its image-embedding channels', () => {
    expect(
      Object.fromEntries(Object.values(BASE_MODEL_PRESETS).map((p) => [p.name, p.embeddingChannels])),
    ).toEqual({
      vit_b: 256,
      vit_l: 256,
      vit_h: 256,
      'sam-mini': 64,
      'casam-tiny': 64,
      'casam-small': 64,
    });
    expect(findBaseModelPreset('vit_b')?.embeddingChannels).toBe(256);
  });
  it('knows no other preset, including names inherited from Object', () => {
    expect(findBaseModelPreset('vit_x')).toBeUndefined();
    expect(isBaseModelPresetName('toString')).toBe(false);
    expect(isBaseModelPresetName(42)).toBe(false);
  });
});

describe('adapter schema', () => {
  it('has 17 Alignment Layer and 10 TaskVAE tensors; parameter counts follow the channels', () => {
    expect(expectedAdapterSchema(64)).toHaveLength(27);
    // 3 blocks × (2 × (64·64·9 + 64) + 3) + 2·64, then VAE 64→128→64(×2)→128→64.
    expect(specParameterCount(expectedAdapterSchema(64))).toBe(
      3 * (2 * (64 * 64 * 9 + 64) + 3) +
        128 +
        (64 * 128 + 128) +
        2 * (128 * 64 + 64) +
        (64 * 128 + 128) +
        (128 * 64 + 64),
    );
  });
  it('refuses impossible channel counts', () => {
    expect(() => expectedAdapterSchema(0)).toThrow(InvalidChannelsError);
    expect(() => expectedAdapterSchema(4097)).toThrow(InvalidChannelsError);
  });
});

describe('validateAdapterFile (plain records)', () => {
  it('returns the metadata and Float32Array tensors without prefixes, in schema order', () => {
    const tensors = adapterTensors(64);
    const v = validateAdapterFile(safetensors(tensors, metadata(64)), { channels: 64 });
    expect(v.metadata).toEqual(metadata(64));
    expect(v.align.map((t) => t.name)).toEqual(
      tensors.filter((t) => t.name.startsWith('align.')).map((t) => t.name.slice(6)),
    );
    expect(v.vae).toHaveLength(10);
    expect(v.vae[0].data).toBeInstanceOf(Float32Array);
    expect(Array.from(v.vae[0].data.subarray(0, 8))).toEqual(Array.from(tensors[17].data.subarray(0, 8)));
  });
  it('lists every problem at once: wrong channels, extra tensor, NaN', () => {
    const t = adapterTensors(64);
    t[0].data[3] = Number.NaN;
    t[1].data[0] = Number.POSITIVE_INFINITY;
    t.push({ name: 'image', shape: [4], data: new Float32Array(4) });
    const problems = problemsOf(safetensors(t, metadata(256)), 64);
    expect(problems).toEqual(
      expect.arrayContaining([
        'unexpected tensor "image"',
        'tensor align.blocks.0.conv1.weight: 1 NaN/Inf values',
        'tensor align.blocks.0.conv1.bias: 1 NaN/Inf values',
        "metadata channels 256 does not match the base model's 64",
      ]),
    );
  });
  it('refuses a 64-channel adapter for a 256-channel base model by its shapes', () => {
    const problems = problemsOf(safetensors(adapterTensors(64), metadata(64)), 256);
    expect(problems).toContain(
      'tensor align.blocks.0.conv1.weight: shape [64,64,3,3] where [256,256,3,3] is expected',
    );
  });
  it('peeks the declared channels, and null for garbage', () => {
    expect(peekAdapterChannels(safetensors(adapterTensors(64), metadata(64)))).toBe(64);
    expect(peekAdapterChannels(new Uint8Array(16))).toBeNull();
  });
});
