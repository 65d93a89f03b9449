import { describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { createHash } from 'node:crypto';
import { float32Tensor } from '../tensor/host-tensor';
import { loadFixture } from '../testing/fixtures';
import {
  ADAPTER_VERSION,
  ADAPTER_VERSION_DECODER_LORA,
  AdapterValidationError,
  WriteAdapterInput,
  readAdapterFile,
  writeAdapterFile,
} from './adapter-file';
import { CASAM_WEIGHTS } from './casam-fixtures.testing';
import { createDecoderLora } from './decoder-lora';
import { stripPrefix } from './state-dict-check';
import { constantDecoderLora } from '../testing/adapters';

const FINGERPRINT = 'sha256:' + 'ab'.repeat(32);

function input(overrides: Partial<WriteAdapterInput> = {}): WriteAdapterInput {
  const w = loadFixture(CASAM_WEIGHTS);
  return {
    taskId: 'acdc-cardiac.v2',
    baseModel: { preset: 'sam-mini', fingerprint: FINGERPRINT },
    tau: { tau: 42.5, p95: 40, p99: 45.25, mean: 30.125, std: 5.5, n: 120, percentile: 97 },
    metrics: { iou: 0.71, dice: 0.82 },
    createdAt: '2026-01-31T12:00:00.000Z',
    align: stripPrefix(w, 'align64.'),
    vae: stripPrefix(w, 'vae64.'),
    ...overrides,
  };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('adapter files with a decoder delta (version 2)', () => {
  it('an adapter without a delta is still written as version 1, byte for byte the same', () => {
    const a = writeAdapterFile(input());
    const b = writeAdapterFile(input({ decoderLora: undefined }));
    expect(sha(a)).toBe(sha(b));
    const r = readAdapterFile(a);
    expect(r.metadata.version).toBe(ADAPTER_VERSION);
    expect(r.metadata.decoderLora).toBeUndefined();
    expect(r.decoderLora).toBeUndefined();
  });

  it('writes and reads a delta: version 2, metadata and every tensor back exactly', () => {
    const lora = createDecoderLora({ channels: 64, rank: 2, alpha: 4, seed: 3 });
    try {
      const sd = lora.stateDict();
      for (const [k, v] of sd)
        if (k.endsWith('.B'))
          sd.set(
            k,
            float32Tensor(
              [...v.shape],
              (v.data as Float32Array).map((_, i) => i / 100),
            ),
          );
      const buf = writeAdapterFile(input({ decoderLora: { metadata: lora.metadata(), stateDict: sd } }));
      const r = readAdapterFile(buf);
      expect(r.metadata.version).toBe(ADAPTER_VERSION_DECODER_LORA);
      expect(r.metadata.decoderLora).toEqual({ rank: 2, alpha: 4, layers: lora.layers });
      expect([...r.decoderLora!.keys()]).toEqual([...sd.keys()]);
      for (const [k, v] of sd) expect(r.decoderLora!.get(k)!.data).toEqual(v.data);
      // A delta read back runs as the one written.
      const back = createDecoderLora({ channels: 64, ...r.metadata.decoderLora!, stateDict: r.decoderLora });
      expect(back.stateDict()).toEqual(sd);
      back.dispose();
    } finally {
      lora.dispose();
    }
  });

  it('the test kit builds a valid delta for app specs (every layer, any fill)', () => {
    const r = readAdapterFile(
      writeAdapterFile(input({ decoderLora: constantDecoderLora(64, { rank: 3, fill: 0.5 }) })),
    );
    expect(r.metadata.decoderLora).toMatchObject({ rank: 3, alpha: 3 });
    expect(r.decoderLora!.size).toBe(80);
    expect(r.decoderLora!.get('output_hypernetworks_mlps.0.layers.2.B')!.shape).toEqual([8, 3]);
  });

  it('refuses a delta whose tensors do not fit its metadata, or whose metadata the validator would reject', () => {
    const lora = createDecoderLora({ channels: 64, rank: 2 });
    try {
      const sd = lora.stateDict();
      sd.delete('output_hypernetworks_mlps.3.layers.2.B');
      expect(() =>
        writeAdapterFile(input({ decoderLora: { metadata: lora.metadata(), stateDict: sd } })),
      ).toThrow(/decoder_lora\.output_hypernetworks_mlps\.3\.layers\.2\.B/);
      expect(() =>
        writeAdapterFile(
          input({ decoderLora: { metadata: { ...lora.metadata(), rank: 32 }, stateDict: lora.stateDict() } }),
        ),
      ).toThrow(AdapterValidationError);
    } finally {
      lora.dispose();
    }
  });
});
