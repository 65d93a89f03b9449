import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION,
  decodeTensorPayloadJson,
  encodeTensorPayloadJson,
  parseProtocolVersion,
} from './index';

describe('protocol version', () => {
  it('is semver and parses', () => {
    expect(parseProtocolVersion(PROTOCOL_VERSION).major).toBeGreaterThanOrEqual(0);
    expect(() => parseProtocolVersion('1.2')).toThrow(/invalid protocol version/);
  });
});

describe('tensor payload', () => {
  it('round-trips float32 bytes exactly through JSON', () => {
    const f = new Float32Array([1.5, -0, NaN, 3.4e38, 1e-45, -2]);
    const p = { dtype: 'float32' as const, shape: [2, 3], data: new Uint8Array(f.buffer) };
    const back = decodeTensorPayloadJson(JSON.parse(JSON.stringify(encodeTensorPayloadJson(p))));
    expect(back.shape).toEqual([2, 3]);
    expect(Buffer.from(back.data).equals(Buffer.from(p.data))).toBe(true);
  });
  it('rejects a byte count that does not match the shape', () => {
    expect(() =>
      decodeTensorPayloadJson({ dtype: 'float32', shape: [2, 2], data: Buffer.alloc(12).toString('base64') }),
    ).toThrow(/needs 16 bytes, got 12/);
  });
  it('rejects unknown dtypes and bad shapes', () => {
    expect(() => decodeTensorPayloadJson({ dtype: 'float64' as 'float32', shape: [1], data: '' })).toThrow(
      /unsupported dtype/,
    );
    expect(() => decodeTensorPayloadJson({ dtype: 'uint8', shape: [-1], data: '' })).toThrow(/non-negative/);
  });
});
