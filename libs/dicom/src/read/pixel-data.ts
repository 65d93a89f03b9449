// Stored pixel samples → modality values (Float32Array per frame). Handles 8/16/32-bit allocation, fewer
// bits stored than allocated (masked, sign-extended when signed: 12-bit MR and CT are common), and the
// Modality LUT as rescale slope/intercept. RGB frames become luminance so every image is one channel.

export interface PixelLayout {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  /** 0: RGBRGB… ; 1: RRR…GGG…BBB… (PS3.3 C.7.6.3.1.3). */
  planarConfiguration: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
}

export interface Rescale {
  slope: number;
  intercept: number;
}

/** Bytes one frame takes in native (uncompressed) pixel data. */
export function frameByteLength(layout: PixelLayout): number {
  return (layout.rows * layout.columns * layout.samplesPerPixel * layout.bitsAllocated) / 8;
}

/** Decodes frame `index` of `pixelData` (all frames, back to back) to modality values. */
export function decodeFrame(
  pixelData: Uint8Array,
  layout: PixelLayout,
  index: number,
  rescale: Rescale,
): Float32Array {
  const size = frameByteLength(layout);
  const bytes = pixelData.subarray(index * size, (index + 1) * size);
  const samples = readSamples(bytes, layout);
  const pixels = layout.rows * layout.columns;
  const out = new Float32Array(pixels);
  if (layout.samplesPerPixel === 3) {
    // ITU-R BT.601 luma; RGB carries no Modality LUT, so no rescale is applied.
    const planar = layout.planarConfiguration === 1;
    for (let i = 0; i < pixels; i++) {
      const [r, g, b] = planar
        ? [samples[i], samples[i + pixels], samples[i + 2 * pixels]]
        : [samples[3 * i], samples[3 * i + 1], samples[3 * i + 2]];
      out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    }
    return out;
  }
  for (let i = 0; i < pixels; i++) out[i] = samples[i] * rescale.slope + rescale.intercept;
  return out;
}

function readSamples(bytes: Uint8Array, layout: PixelLayout): ArrayLike<number> {
  const count = layout.rows * layout.columns * layout.samplesPerPixel;
  const raw = typedView(bytes, layout.bitsAllocated, layout.signed, count);
  const stored = Math.min(layout.bitsStored, layout.bitsAllocated);
  if (stored === layout.bitsAllocated) return raw; // the typed view already has the right sign and width
  // High bits above BitsStored may hold overlays or garbage: keep only the stored bits (HighBit = stored-1),
  // then sign-extend from the stored width.
  const mask = 2 ** stored - 1;
  const signBit = 2 ** (stored - 1);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let value = raw[i] & mask;
    if (layout.signed && value >= signBit) value -= 2 * signBit;
    out[i] = value;
  }
  return out;
}

/**
 * Samples as a typed array of the allocated width, without a per-sample DataView call (a 512×512 frame is
 * decoded in a few milliseconds). Typed arrays read the platform's byte order; every platform Node runs on
 * here is little-endian, as is every transfer syntax that reaches this point (big endian is decoded first).
 * Unaligned data (odd byte offset) is copied once to an aligned buffer.
 */
function typedView(bytes: Uint8Array, bitsAllocated: number, signed: boolean, count: number) {
  const width = bitsAllocated / 8;
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = aligned;
  if (bitsAllocated === 8)
    return signed ? new Int8Array(buffer, byteOffset, count) : aligned.subarray(0, count);
  if (bitsAllocated === 16) {
    return signed ? new Int16Array(buffer, byteOffset, count) : new Uint16Array(buffer, byteOffset, count);
  }
  return signed ? new Int32Array(buffer, byteOffset, count) : new Uint32Array(buffer, byteOffset, count);
}
