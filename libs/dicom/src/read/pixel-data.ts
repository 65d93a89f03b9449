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

function readSamples(bytes: Uint8Array, layout: PixelLayout): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = layout.rows * layout.columns * layout.samplesPerPixel;
  const step = layout.bitsAllocated / 8;
  const out = new Float64Array(count);
  const stored = Math.min(layout.bitsStored, layout.bitsAllocated);
  const mask = stored >= 32 ? 0xffffffff : 2 ** stored - 1;
  const signBit = 2 ** (stored - 1);
  for (let i = 0; i < count; i++) {
    const at = i * step;
    const raw =
      step === 1 ? view.getUint8(at) : step === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
    // High bits above BitsStored may hold overlays or garbage: keep only the stored bits (HighBit = stored-1).
    let value = stored >= 32 ? raw : raw & mask;
    if (layout.signed && value >= signBit) value -= 2 * signBit;
    out[i] = value;
  }
  return out;
}
