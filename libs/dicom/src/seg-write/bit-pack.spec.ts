import { describe, expect, it } from 'vitest';
import { packBinaryFrames, unpackBinaryFrame } from './bit-pack';

describe('packBinaryFrames', () => {
  it('puts the first pixel in the least significant bit', () => {
    const packed = packBinaryFrames([Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 1, 1])], 9);
    // 9 bits → 2 bytes (already even): 0b1000_0001, then bit 0 of the second byte.
    expect(Array.from(packed)).toEqual([0x81, 0x01]);
  });

  it('packs frames back to back across byte boundaries, padding only the end to an even length', () => {
    // Two 3×3 frames = 18 bits = 3 bytes → padded to 4. Frame 2 starts at bit 9.
    const a = Uint8Array.from([1, 1, 1, 0, 0, 0, 0, 0, 0]);
    const b = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 255]);
    const packed = packBinaryFrames([a, b], 9);
    expect(Array.from(packed)).toEqual([0x07, 0x00, 0x02, 0x00]);
    expect(Array.from(unpackBinaryFrame(packed, 0, 9))).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(unpackBinaryFrame(packed, 1, 9))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('round-trips seeded random frames of an odd size', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 2;
    const pixels = 5 * 7;
    const frames = [0, 1, 2].map(() => Uint8Array.from({ length: pixels }, random));
    const packed = packBinaryFrames(frames, pixels);
    expect(packed.length).toBe(14); // ceil(105 / 8) = 14, already even
    frames.forEach((frame, index) => expect(unpackBinaryFrame(packed, index, pixels)).toEqual(frame));
  });

  it('rejects a frame of the wrong size and a stream too short for the frame asked', () => {
    expect(() => packBinaryFrames([new Uint8Array(8)], 9)).toThrow(/8 pixels, expected 9/);
    expect(() => unpackBinaryFrame(new Uint8Array(2), 1, 9)).toThrow(/too short for frame 2/);
  });
});
