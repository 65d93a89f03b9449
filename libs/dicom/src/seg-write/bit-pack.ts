// BINARY segmentation pixel data (PS3.5 8.1.1 and PS3.3 C.8.20.2): one bit per pixel, the first pixel in the
// least significant bit of the first byte, and frames packed back to back with no padding between them — so a
// frame whose size is not a multiple of 8 starts in the middle of a byte. Only the whole value is padded to an
// even length. dcmjs's BitArray does the same bit order on one flat array; this packs the frames where they lie
// (no rows×columns×frames copy for a 300-slice CT) and unpacks one frame without expanding the whole stream.

/** Packs frames of 0/non-zero bytes into one bit stream, padded with zero bits to an even byte length. */
export function packBinaryFrames(frames: readonly Uint8Array[], pixelsPerFrame: number): Uint8Array {
  const totalBits = frames.length * pixelsPerFrame;
  const byteLength = Math.ceil(totalBits / 8);
  const packed = new Uint8Array(byteLength + (byteLength % 2));
  let bit = 0;
  for (const frame of frames) {
    if (frame.length !== pixelsPerFrame) {
      throw new Error(`frame has ${frame.length} pixels, expected ${pixelsPerFrame}`);
    }
    for (let i = 0; i < pixelsPerFrame; i++, bit++) {
      if (frame[i] !== 0) packed[bit >> 3] |= 1 << (bit & 7);
    }
  }
  return packed;
}

/** Unpacks frame `frameIndex` (0-based) of a packed stream into 0/1 bytes. */
export function unpackBinaryFrame(
  packed: Uint8Array,
  frameIndex: number,
  pixelsPerFrame: number,
): Uint8Array {
  const start = frameIndex * pixelsPerFrame;
  if (Math.ceil((start + pixelsPerFrame) / 8) > packed.length) {
    throw new Error(`pixel data too short for frame ${frameIndex + 1} of ${pixelsPerFrame} pixels`);
  }
  const frame = new Uint8Array(pixelsPerFrame);
  for (let i = 0; i < pixelsPerFrame; i++) {
    const bit = start + i;
    frame[i] = (packed[bit >> 3] >> (bit & 7)) & 1;
  }
  return frame;
}
