import { describe, expect, it } from 'vitest';
import { newDicomUid } from './dicom-uid';

describe('newDicomUid', () => {
  it('writes a UUID as one decimal integer under 2.25', () => {
    // 0x...01 = 1; the all-ones UUID is 2^128 - 1.
    expect(newDicomUid(undefined, '00000000-0000-0000-0000-000000000001')).toBe('2.25.1');
    expect(newDicomUid(undefined, 'ffffffff-ffff-ffff-ffff-ffffffffffff')).toBe(
      '2.25.340282366920938463463374607431768211455',
    );
  });

  it('gives a different, valid UID each call', () => {
    const a = newDicomUid();
    const b = newDicomUid();
    expect(a).not.toBe(b);
    for (const uid of [a, b]) {
      expect(uid).toMatch(/^2\.25\.[1-9][0-9]*$/);
      expect(uid.length).toBeLessThanOrEqual(64);
    }
  });

  it('keeps a long site root within 64 characters', () => {
    const root = '1.2.826.0.1.3680043.10.999.1234567890.1234567890';
    const uid = newDicomUid(root, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
    expect(uid.startsWith(`${root}.`)).toBe(true);
    expect(uid).toHaveLength(64);
    expect(() => newDicomUid('1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26')).toThrow(
      /fewer than 8 digits/,
    );
  });
});
