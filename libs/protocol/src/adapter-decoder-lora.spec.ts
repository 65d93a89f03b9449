import { describe, expect, it } from 'vitest';
import {
  ADAPTER_VERSION_DECODER_LORA,
  adapterKind,
  DECODER_LORA_LIMITS,
  decoderLoraSummary,
  decoderLoraDims,
  decoderLoraLayerSpecs,
  decoderLoraTensorSpecs,
} from './adapter-decoder-lora';
import { AdapterValidationError, validateAdapterFile } from './adapter-file-validation';
import { ADAPTER_LIMITS, expectedAdapterSchema } from './adapter-schema';
import { UPLOAD_LIMITS } from './adapter-uploads';

const FINGERPRINT = 'sha256:' + 'ab'.repeat(32);

interface RawTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A minimal safetensors writer (compact header padded to 8 bytes), as adapter-schema.spec.ts has. */
function safetensors(tensors: RawTensor[], meta: object): Uint8Array {
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

/** Full metrics as the task trainer writes them, so the size checks see a realistic metadata entry. */
const METRICS = Object.fromEntries(
  [
    'iou',
    'dice',
    'frozen_iou',
    'frozen_dice',
    'boxfill_iou',
    'val_images',
    'val_regions',
    'train_images',
    'al_epochs',
    'al_final_loss',
    'al_lr',
    'vae_final_loss',
    'boundary_iou',
    'frozen_boundary_iou',
  ].map((k) => [k, 0.123456789012345]),
);

function metadata(channels: number, lora?: object): object {
  return {
    format: 'casam-adapter',
    version: lora ? 2 : 1,
    taskId: 'task-1',
    baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT },
    channels,
    tau: { tau: 1.5, p95: 1.2, p99: 1.8, mean: 1, std: 0.25, n: 40, percentile: 97 },
    metrics: METRICS,
    createdAt: '2026-02-01T00:00:00.000Z',
    ...(lora ? { decoderLora: lora } : {}),
  };
}

function tensorsFor(specs: { name: string; shape: number[] }[]): RawTensor[] {
  return specs.map((s) => {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = ((i % 5) - 2) / 10;
    return { name: s.name, shape: s.shape, data };
  });
}

const allLayers = (c: number): string[] => decoderLoraLayerSpecs(decoderLoraDims(c)).map((s) => s.name);

function problemsOf(buf: Uint8Array, channels: number): string[] {
  try {
    validateAdapterFile(buf, { channels });
  } catch (e) {
    expect(e).toBeInstanceOf(AdapterValidationError);
    return (e as AdapterValidationError).problems;
  }
  throw new Error('the file was accepted');
}

describe('decoder delta layers', () => {
  it('are the transformer attention projections and the hypernetwork MLPs, with their shapes', () => {
    const specs = decoderLoraLayerSpecs(decoderLoraDims(64));
    expect(specs).toHaveLength(2 * 3 * 4 + 4 + 4 * 3);
    expect(specs[0]).toEqual({ name: 'transformer.layers.0.self_attn.q_proj', inDim: 64, outDim: 64 });
    expect(specs.find((s) => s.name === 'transformer.layers.1.cross_attn_image_to_token.out_proj')).toEqual({
      name: 'transformer.layers.1.cross_attn_image_to_token.out_proj',
      inDim: 32,
      outDim: 64,
    });
    expect(specs.at(-1)).toEqual({ name: 'output_hypernetworks_mlps.3.layers.2', inDim: 64, outDim: 8 });
  });
  it('give A [rank,in] and B [out,rank] tensors after the Alignment Layer and the VAE', () => {
    const lora = { rank: 4, layers: ['transformer.final_attn_token_to_image.k_proj'] };
    expect(decoderLoraTensorSpecs(64, lora)).toEqual([
      { name: 'decoder_lora.transformer.final_attn_token_to_image.k_proj.A', shape: [4, 64] },
      { name: 'decoder_lora.transformer.final_attn_token_to_image.k_proj.B', shape: [32, 4] },
    ]);
    const all = expectedAdapterSchema(64, lora);
    expect(all).toHaveLength(27 + 2);
    expect(all.slice(0, 27)).toEqual(expectedAdapterSchema(64));
  });
});

describe('validateAdapterFile, schema version 2 (decoder delta)', () => {
  const c = 64;
  const lora = { rank: 4, alpha: 8, layers: allLayers(c) };
  const v2 = (l: { rank: number; alpha: number; layers: string[] } = lora): Uint8Array =>
    safetensors(tensorsFor(expectedAdapterSchema(c, l)), metadata(c, l));

  it('still accepts a version 1 adapter, with no delta', () => {
    const v = validateAdapterFile(safetensors(tensorsFor(expectedAdapterSchema(c)), metadata(c)), {
      channels: c,
    });
    expect(v.metadata.version).toBe(1);
    expect(v.metadata.decoderLora).toBeUndefined();
    expect(v.decoderLora).toEqual([]);
  });
  it('accepts a version 2 adapter and returns the delta tensors without prefix, in file order', () => {
    const v = validateAdapterFile(v2(), { channels: c });
    expect(v.metadata.version).toBe(ADAPTER_VERSION_DECODER_LORA);
    expect(v.metadata.decoderLora).toEqual(lora);
    expect(v.align).toHaveLength(17);
    expect(v.vae).toHaveLength(10);
    expect(v.decoderLora).toHaveLength(2 * lora.layers.length);
    expect(v.decoderLora[0].name).toBe('transformer.layers.0.self_attn.q_proj.A');
    expect(v.decoderLora[0].shape).toEqual([4, 64]);
    expect(v.decoderLora[1].name).toBe('transformer.layers.0.self_attn.q_proj.B');
  });
  it('the largest delta (every layer, rank 16) of the widest preset stays inside the header, metadata and upload limits', () => {
    const big = { rank: DECODER_LORA_LIMITS.maxRank, alpha: 32, layers: allLayers(256) };
    const buf = safetensors(tensorsFor(expectedAdapterSchema(256, big)), metadata(256, big));
    expect(() => validateAdapterFile(buf, { channels: 256 })).not.toThrow();
    const headerBytes = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect(headerBytes).toBeLessThan(ADAPTER_LIMITS.maxHeaderBytes);
    expect(JSON.stringify(metadata(256, big)).length).toBeLessThan(ADAPTER_LIMITS.maxMetadataBytes);
    expect(buf.byteLength).toBeLessThan(UPLOAD_LIMITS.maxTotalBytes);
  });
  it('refuses a rank over the limit, a bad alpha and unknown or repeated layers, with clear messages', () => {
    const bad = {
      rank: DECODER_LORA_LIMITS.maxRank + 1,
      alpha: 0,
      layers: [
        'transformer.layers.0.norm1',
        'output_hypernetworks_mlps.0.layers.0',
        'output_hypernetworks_mlps.0.layers.0',
      ],
    };
    const buf = safetensors(tensorsFor(expectedAdapterSchema(c)), metadata(c, bad));
    expect(problemsOf(buf, c)).toEqual([
      `metadata decoderLora.rank must be an integer in 1..${DECODER_LORA_LIMITS.maxRank}, got 17`,
      `metadata decoderLora.alpha must be a number in (0, ${DECODER_LORA_LIMITS.maxAlpha}], got 0`,
      'metadata decoderLora.layers: "transformer.layers.0.norm1" is not a decoder layer that can carry a delta',
      `metadata decoderLora.layers: "output_hypernetworks_mlps.0.layers.0" is repeated or out of the decoder's order`,
    ]);
  });
  it('refuses delta tensors of the wrong shape, missing ones and ones for layers the metadata does not name', () => {
    const l = { rank: 2, alpha: 2, layers: ['transformer.layers.0.self_attn.v_proj'] };
    const t = tensorsFor(expectedAdapterSchema(c, l));
    const b = t.find((x) => x.name.endsWith('v_proj.B'))!;
    b.shape = [64, 3];
    b.data = new Float32Array(64 * 3);
    t.push(...tensorsFor([{ name: 'decoder_lora.transformer.layers.0.self_attn.k_proj.A', shape: [2, 64] }]));
    const p = problemsOf(safetensors(t, metadata(c, l)), c);
    expect(p).toContain(
      'tensor decoder_lora.transformer.layers.0.self_attn.v_proj.B: shape [64,3] where [64,2] is expected',
    );
    expect(p).toContain('unexpected tensor "decoder_lora.transformer.layers.0.self_attn.k_proj.A"');

    const missing = tensorsFor(expectedAdapterSchema(c, l)).slice(0, -1);
    expect(problemsOf(safetensors(missing, metadata(c, l)), c)).toEqual([
      'missing tensor decoder_lora.transformer.layers.0.self_attn.v_proj.B',
    ]);
  });
  it('a delta in a version 1 file, or a version 2 file without one, is refused', () => {
    const withDelta = { ...metadata(c, lora), version: 1 };
    expect(problemsOf(safetensors(tensorsFor(expectedAdapterSchema(c, lora)), withDelta), c)).toEqual(
      expect.arrayContaining([
        'metadata: unknown key "decoderLora"',
        'metadata decoderLora needs version 2',
        'unexpected tensor "decoder_lora.transformer.layers.0.self_attn.q_proj.A"',
      ]),
    );
    const noDelta = { ...metadata(c), version: 2 };
    expect(problemsOf(safetensors(tensorsFor(expectedAdapterSchema(c)), noDelta), c)).toEqual([
      'metadata: missing key decoderLora',
    ]);
  });
  it('names the versions it knows when it meets a newer one', () => {
    const buf = safetensors(tensorsFor(expectedAdapterSchema(c)), { ...metadata(c), version: 3 });
    expect(problemsOf(buf, c)).toEqual([
      'metadata version 3 is not supported: this reader knows versions 1 and 2 (a newer coordinator or site agent may be needed)',
    ]);
  });
  it('NaN in a delta tensor is refused like anywhere else', () => {
    const t = tensorsFor(expectedAdapterSchema(c, lora));
    t[30].data[0] = Number.NaN;
    expect(problemsOf(safetensors(t, metadata(c, lora)), c)).toEqual([
      `tensor ${t[30].name}: 1 NaN/Inf values`,
    ]);
  });
});

describe('adapter kinds', () => {
  it('summarises a delta and names the kind', () => {
    const lora = { rank: 4, alpha: 8, layers: ['transformer.layers.0.self_attn.q_proj', 'x', 'y'] };
    expect(decoderLoraSummary(lora)).toEqual({ rank: 4, alpha: 8, layers: 3 });
    expect([adapterKind(lora), adapterKind(undefined), adapterKind(null)]).toEqual([
      'align+decoder-lora',
      'align',
      'align',
    ]);
  });
});
