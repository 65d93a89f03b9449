import { describe, expect, it } from 'vitest';
import { HostTensor, StateDict, float32Tensor } from '../tensor/host-tensor';
import { loadFixture } from '../testing/fixtures';
import { writeSafetensors } from '../weights/safetensors';
import {
  ADAPTER_LIMITS,
  AdapterMetadata,
  AdapterValidationError,
  WriteAdapterInput,
  expectedAdapterSchema,
  readAdapterFile,
  validateAdapterFile,
  writeAdapterFile,
} from './adapter-file';
import { CASAM_WEIGHTS } from './casam-fixtures.testing';
import { addPrefix, stripPrefix } from './state-dict-check';

const FINGERPRINT = 'sha256:' + 'ab'.repeat(32);

function input(overrides: Partial<WriteAdapterInput> = {}): WriteAdapterInput {
  const w = loadFixture(CASAM_WEIGHTS);
  return {
    taskId: 'acdc-cardiac.v1',
    baseModel: { preset: 'sam-mini', fingerprint: FINGERPRINT },
    tau: { tau: 42.5, p95: 40, p99: 45.25, mean: 30.125, std: 5.5, n: 120, percentile: 97 },
    metrics: { iou: 0.71, dice: 0.82, boundaryIou: 0.5, regions: 311 },
    createdAt: '2026-01-31T12:00:00.000Z',
    align: stripPrefix(w, 'align64.'),
    vae: stripPrefix(w, 'vae64.'),
    ...overrides,
  };
}

function validMetadata(): AdapterMetadata {
  return readAdapterFile(writeAdapterFile(input())).metadata;
}

/** All tensors of a valid C=64 adapter, in file order. */
function validTensors(): [string, HostTensor][] {
  const i = input();
  return [...addPrefix(i.align, 'align.'), ...addPrefix(i.vae, 'vae.')];
}

function build(
  tensors: [string, HostTensor][],
  meta: unknown = validMetadata(),
  extraMeta: Record<string, string> = {},
): Uint8Array {
  return writeSafetensors(tensors, {
    casam: typeof meta === 'string' ? meta : JSON.stringify(meta),
    ...extraMeta,
  });
}

/** Re-encodes a file after editing its parsed header (compact JSON, space padding) and optionally its data. */
function rebuild(
  buf: Uint8Array,
  edit: (h: Record<string, { data_offsets?: number[] }>) => void,
  data?: Uint8Array,
  rawHeader?: string,
): Uint8Array {
  const n = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
  edit(header);
  let text = rawHeader ?? JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const hb = new TextEncoder().encode(text);
  const body = data ?? buf.subarray(8 + n);
  const out = new Uint8Array(8 + hb.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(body, 8 + hb.length);
  return out;
}

function problemsOf(buf: Uint8Array, channels = 64, opts = {}): string[] {
  try {
    validateAdapterFile(buf, { channels, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(AdapterValidationError);
    return (e as AdapterValidationError).problems;
  }
  throw new Error('the file was accepted');
}

describe('adapter file schema', () => {
  it('lists align.* then vae.* F32 tensors with PyTorch shapes', () => {
    const s = expectedAdapterSchema(256);
    expect(s).toHaveLength(17 + 10);
    expect(s[0]).toEqual({ name: 'align.blocks.0.conv1.weight', dtype: 'F32', shape: [256, 256, 3, 3] });
    expect(s.find((t) => t.name === 'align.blocks.2.eca.weight')!.shape).toEqual([1, 1, 5]);
    expect(s.find((t) => t.name === 'vae.encoder.0.weight')!.shape).toEqual([128, 256]);
    expect(s.at(-1)).toEqual({ name: 'vae.decoder.2.bias', dtype: 'F32', shape: [256] });
    expect(s.every((t) => t.dtype === 'F32')).toBe(true);
  });
});

describe('adapter file round trip', () => {
  it('writes, reads and validates: metadata and every tensor come back exactly', () => {
    const src = input();
    const buf = writeAdapterFile(src);
    const a = readAdapterFile(buf);
    const b = validateAdapterFile(buf, { channels: 64 });
    expect(b.metadata).toEqual(a.metadata);
    expect(a.metadata).toEqual({
      format: 'casam-adapter',
      version: 1,
      taskId: 'acdc-cardiac.v1',
      baseModel: { preset: 'sam-mini', fingerprint: FINGERPRINT },
      channels: 64,
      tau: src.tau,
      metrics: src.metrics,
      createdAt: '2026-01-31T12:00:00.000Z',
    });
    const same = (x: StateDict, y: StateDict): void => {
      expect([...x.keys()]).toEqual([...y.keys()]);
      for (const [k, t] of x) {
        expect(t.shape, k).toEqual(y.get(k)!.shape);
        expect(
          Buffer.from((t.data as Float32Array).buffer).equals(
            Buffer.from((y.get(k)!.data as Float32Array).slice().buffer),
          ),
          k,
        ).toBe(true);
      }
    };
    same(a.align, src.align);
    same(a.vae, src.vae);
    console.log(`C=64 adapter file: ${buf.byteLength} bytes`);
  });

  it('reads from a Node Buffer that starts inside a larger ArrayBuffer', () => {
    const buf = writeAdapterFile(input());
    const inner = Buffer.concat([Buffer.alloc(3), Buffer.from(buf)]).subarray(3);
    expect(inner.byteOffset % 4).not.toBe(0);
    const a = readAdapterFile(inner);
    expect(a.metadata.taskId).toBe('acdc-cardiac.v1');
    expect(a.vae.get('decoder.2.bias')!.data).toEqual(input().vae.get('decoder.2.bias')!.data);
  });

  it('stamps the time when no createdAt is given, and accepts a Date', () => {
    const now = readAdapterFile(writeAdapterFile(input({ createdAt: undefined }))).metadata.createdAt;
    expect(Date.parse(now)).toBeGreaterThan(Date.parse('2025-01-01'));
    const fixed = readAdapterFile(
      writeAdapterFile(input({ createdAt: new Date(Date.UTC(2026, 0, 2)) })),
    ).metadata;
    expect(fixed.createdAt).toBe('2026-01-02T00:00:00.000Z');
  });
});

describe('adapter file validation rejects', () => {
  it('an extra tensor (e.g. an image riding along)', () => {
    const img: HostTensor = { dtype: 'uint8', shape: [8, 8, 3], data: new Uint8Array(192) };
    expect(problemsOf(build([...validTensors(), ['image', img]]))).toEqual(['unexpected tensor "image"']);
  });

  it('a missing tensor', () => {
    const t = validTensors().filter(([k]) => k !== 'vae.fc_mu.bias');
    expect(problemsOf(build(t))).toEqual(['missing tensor vae.fc_mu.bias']);
  });

  it('a wrong shape and a wrong dtype, both listed', () => {
    const t = validTensors().map(([k, v]): [string, HostTensor] => {
      if (k === 'align.norm.bias') return [k, float32Tensor([65])];
      if (k === 'vae.fc_mu.bias') return [k, { dtype: 'float64', shape: [64], data: new Float64Array(64) }];
      return [k, v];
    });
    const p = problemsOf(build(t));
    expect(p).toContain('tensor align.norm.bias: shape [65] where [64] is expected');
    expect(p).toContain('tensor vae.fc_mu.bias: dtype "F64" where F32 is expected');
  });

  it('NaN or Inf values', () => {
    const t = validTensors().map(([k, v]): [string, HostTensor] =>
      k === 'vae.decoder.0.bias' ? [k, float32Tensor([128], new Float32Array(128).fill(Infinity))] : [k, v],
    );
    expect(problemsOf(build(t))).toEqual(['tensor vae.decoder.0.bias: 128 NaN/Inf values']);
  });

  it('a header over the size limit, before parsing it', () => {
    const buf = writeAdapterFile(input());
    expect(problemsOf(buf, 64, { maxHeaderBytes: 1024 })[0]).toMatch(
      /^header is \d+ bytes, over the limit of 1024$/,
    );
    const bogus = new Uint8Array(16);
    new DataView(bogus.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(problemsOf(bogus)[0]).toMatch(/over the limit of 65536/);
    expect(ADAPTER_LIMITS.maxHeaderBytes).toBe(65536);
  });

  it('metadata over its size limit', () => {
    const meta = {
      ...validMetadata(),
      metrics: Object.fromEntries(
        Array.from({ length: 30 }, (_, i) => [`metric_with_a_long_name_${i}`, i / 7]),
      ),
    };
    const p = problemsOf(build(validTensors(), meta), 64, { maxMetadataBytes: 1024 });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^metadata is \d+ bytes, over the limit of 1024$/);
  });

  it('trailing bytes after the last tensor, and a gap between tensors', () => {
    const buf = writeAdapterFile(input());
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    const data = buf.subarray(8 + n);
    const longer = new Uint8Array(data.length + 12);
    longer.set(data);
    expect(problemsOf(rebuild(buf, () => undefined, longer))).toEqual([
      '12 data bytes after the last tensor belong to no tensor',
    ]);
    // Move the last tensor 12 bytes later: 12 unreferenced bytes in between.
    const moved = new Uint8Array(data.length + 12);
    const last = 'vae.decoder.2.bias';
    const gap = rebuild(
      buf,
      (h) => {
        const o = h[last].data_offsets!;
        moved.set(data.subarray(0, o[0]));
        moved.set(data.subarray(o[0], o[1]), o[0] + 12);
        h[last].data_offsets = [o[0] + 12, o[1] + 12];
      },
      moved,
    );
    expect(problemsOf(gap)[0]).toMatch(/^data bytes \d+\.\.\d+ belong to no tensor$/);
  });

  it('overlapping tensors', () => {
    const buf = writeAdapterFile(input());
    // fc_mu.bias (256 bytes) pointed into encoder.0.bias: the two overlap.
    const bad = rebuild(buf, (h) => {
      const b = h['vae.encoder.0.bias'].data_offsets![0];
      h['vae.fc_mu.bias'].data_offsets = [b, b + 256];
    });
    expect(problemsOf(bad).join('\n')).toMatch(/^tensor data overlaps at byte \d+$/m);
  });

  it('a header that is not compact (extra whitespace, duplicate keys) or has unknown tensor fields', () => {
    const buf = writeAdapterFile(input());
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    const text = new TextDecoder().decode(buf.subarray(8, 8 + n)).trimEnd();
    const spaced = rebuild(buf, () => undefined, undefined, text.replace('{', '{   '));
    expect(problemsOf(spaced)).toEqual([
      'header is not compact JSON padded with at most 7 spaces (extra whitespace or duplicate keys)',
    ]);
    const dup = rebuild(buf, () => undefined, undefined, text.replace('{', '{"align.norm.bias":"x",'));
    expect(problemsOf(dup)).toContain(
      'header is not compact JSON padded with at most 7 spaces (extra whitespace or duplicate keys)',
    );
    const extraField = rebuild(buf, (h) => {
      (h['align.norm.bias'] as Record<string, unknown>)['note'] = 'patient 17';
    });
    expect(problemsOf(extraField)).toEqual(['tensor align.norm.bias: unknown key "note"']);
  });

  it.each<[string, (m: Record<string, unknown>) => void, RegExp]>([
    [
      'an unknown metadata key',
      (m) => (m['thumbnail'] = 'iVBORw0KGgo='),
      /^metadata: unknown key "thumbnail"$/,
    ],
    ['a missing metadata key', (m) => delete m['createdAt'], /^metadata: missing key createdAt$/],
    [
      'a non-number metric',
      (m) => (m['metrics'] = { iou: 0.5, note: 'text' }),
      /metrics\."note" must be a finite number/,
    ],
    ['a nested metric', (m) => (m['metrics'] = { iou: [0.5] }), /metrics\."iou" must be a finite number/],
    [
      'too many metrics',
      (m) => (m['metrics'] = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]))),
      /33 entries, over the limit of 32/,
    ],
    ['a long taskId', (m) => (m['taskId'] = 'x'.repeat(129)), /taskId must be 1\.\.128 characters/],
    ['a taskId with odd characters', (m) => (m['taskId'] = 'a b'), /taskId may hold only/],
    [
      'a bad fingerprint',
      (m) => (m['baseModel'] = { preset: 'vit_b', fingerprint: 'md5:00' }),
      /fingerprint must be/,
    ],
    [
      'an extra baseModel key',
      (m) => (m['baseModel'] = { preset: 'vit_b', fingerprint: FINGERPRINT, url: 'x' }),
      /baseModel: unknown key "url"/,
    ],
    [
      'an unknown version',
      (m) => (m['version'] = 3),
      /version 3 is not supported: this reader knows versions 1 and 2/,
    ],
    ['version 2 without a decoder delta', (m) => (m['version'] = 2), /metadata: missing key decoderLora/],
    ['another format', (m) => (m['format'] = 'lora'), /format must be "casam-adapter"/],
    ['wrong channels', (m) => (m['channels'] = 256), /channels 256 does not match the base model's 64/],
    ['a bad timestamp', (m) => (m['createdAt'] = 'yesterday'), /createdAt must be an ISO 8601 UTC timestamp/],
    [
      'a τ that is not a number',
      (m) => (m['tau'] = { ...(m['tau'] as object), tau: 'high' }),
      /tau\.tau must be a finite number/,
    ],
    [
      'a fractional τ count',
      (m) => (m['tau'] = { ...(m['tau'] as object), n: 2.5 }),
      /tau\.n must be a positive integer/,
    ],
    [
      'an extra τ key',
      (m) => (m['tau'] = { ...(m['tau'] as object), scores: [1, 2] }),
      /tau: unknown key "scores"/,
    ],
  ])('%s', (_label, edit, re) => {
    const m = validMetadata() as unknown as Record<string, unknown>;
    edit(m);
    const p = problemsOf(build(validTensors(), m));
    expect(
      p.some((x) => re.test(x)),
      p.join(' | '),
    ).toBe(true);
  });

  it('metadata that is not compact JSON, not JSON, or not alone in __metadata__', () => {
    const m = JSON.stringify(validMetadata());
    expect(problemsOf(build(validTensors(), m.replace('{', '{ ')))).toEqual(['metadata is not compact JSON']);
    expect(problemsOf(build(validTensors(), '{oops')).join()).toMatch(/metadata is not valid JSON/);
    expect(problemsOf(build(validTensors(), m, { extra: 'x' }))).toEqual([
      '__metadata__: unknown key "extra"',
    ]);
    expect(problemsOf(writeSafetensors(validTensors()))).toEqual([
      '__metadata__ is missing or not an object',
    ]);
  });

  it('a file for another channel count, listing every wrong tensor', () => {
    const p = problemsOf(writeAdapterFile(input()), 256);
    expect(p.filter((x) => x.includes('where [256'))).not.toHaveLength(0);
    expect(p).toContain("metadata channels 64 does not match the base model's 256");
    expect(p.length).toBeGreaterThan(10);
  });

  it('garbage', () => {
    expect(problemsOf(new Uint8Array(3))).toEqual(['file is 3 bytes, too short for a safetensors header']);
    const junk = new Uint8Array(24);
    new DataView(junk.buffer).setBigUint64(0, 16n, true);
    junk.set(new TextEncoder().encode('not json at all!'), 8);
    expect(problemsOf(junk)[0]).toMatch(/header is not valid UTF-8 JSON/);
    const short = new Uint8Array(8);
    new DataView(short.buffer).setBigUint64(0, 100n, true);
    expect(problemsOf(short)[0]).toMatch(/runs past the end/);
    expect(() => readAdapterFile(new Uint8Array(3))).toThrow(AdapterValidationError);
  });
});

describe('writeAdapterFile', () => {
  it('refuses weights that do not fit and metadata the validator would reject', () => {
    const bad = new Map(input().vae);
    bad.delete('fc_logvar.weight');
    expect(() => writeAdapterFile(input({ vae: bad }))).toThrow(/missing tensor vae\.fc_logvar\.weight/);
    expect(() => writeAdapterFile(input({ tau: { ...input().tau, tau: NaN } }))).toThrow(
      /tau\.tau must be a finite number/,
    );
    expect(() => writeAdapterFile(input({ taskId: '../etc' }))).toThrow(AdapterValidationError);
    expect(() => writeAdapterFile(input({ align: new Map() }))).toThrow(/no norm\.weight/);
  });
});
