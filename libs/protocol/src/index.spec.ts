import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, parseProtocolVersion } from './index';

describe('protocol version', () => {
  it('is semver and parses', () => {
    expect(parseProtocolVersion(PROTOCOL_VERSION).major).toBeGreaterThanOrEqual(0);
    expect(() => parseProtocolVersion('1.2')).toThrow(/invalid protocol version/);
  });
});
