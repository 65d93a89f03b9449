// Limits against decompression bombs. A DICOM header may claim Rows × Columns × NumberOfFrames far beyond what
// the file holds, and a compressed frame (RLE, JPEG…) may expand to far more than its bytes: the codecs would
// allocate whatever the header (or the bitstream) asks for. So the claimed size is checked from the header before
// anything is allocated or decoded, and a decoded frame must come out at exactly the size the header announced.

import { bitstreamFrameSize } from './bitstream-size';
import { DicomProblem } from './dicom-problem';

export interface DicomSizeLimits {
  /** Largest Rows × Columns of one frame (default 4096 × 4096). */
  maxPixels?: number;
  /** Largest Rows × Columns × SamplesPerPixel × NumberOfFrames of one instance (default 2^28 values). */
  maxFramePixelsTotal?: number;
}

export const DEFAULT_DICOM_SIZE_LIMITS: Required<DicomSizeLimits> = {
  maxPixels: 4096 * 4096,
  maxFramePixelsTotal: 2 ** 28,
};

/** What a header claims about the pixel data (missing values read as 1). */
export interface ClaimedPixels {
  rows: number;
  columns: number;
  numberOfFrames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
}

/** Throws DicomProblem 'too-large', naming the sizes, when the claim passes a limit. */
export function checkClaimedSize(claim: ClaimedPixels, limits: DicomSizeLimits, source: string): void {
  const { maxPixels, maxFramePixelsTotal } = { ...DEFAULT_DICOM_SIZE_LIMITS, ...limits };
  const { rows, columns, numberOfFrames, samplesPerPixel, bitsAllocated } = claim;
  const perFrame = rows * columns;
  if (perFrame > maxPixels) {
    throw new DicomProblem(
      'too-large',
      source,
      `a frame of ${columns}×${rows} pixels is larger than the limit of ${maxPixels} pixels per frame`,
    );
  }
  const total = perFrame * samplesPerPixel * numberOfFrames;
  if (total > maxFramePixelsTotal) {
    const bytes = (total * Math.max(1, bitsAllocated)) / 8;
    throw new DicomProblem(
      'too-large',
      source,
      `${numberOfFrames} frame(s) of ${columns}×${rows}×${samplesPerPixel} make ${total} values ` +
        `(${formatBytes(bytes)} decoded), more than the limit of ${maxFramePixelsTotal} values per instance`,
    );
  }
}

/**
 * Before decoding: no compressed frame may declare more pixels than the header's Rows × Columns (the codec would
 * allocate what the bitstream declares). `fragments` is the raw Pixel Data value: the encapsulated fragments.
 */
export function checkBitstreams(fragments: unknown, claim: ClaimedPixels, source: string): void {
  for (const fragment of Array.isArray(fragments) ? fragments : []) {
    if (!(fragment instanceof ArrayBuffer) && !ArrayBuffer.isView(fragment)) continue;
    const bytes = ArrayBuffer.isView(fragment)
      ? new Uint8Array(fragment.buffer, fragment.byteOffset, fragment.byteLength)
      : new Uint8Array(fragment);
    const size = bitstreamFrameSize(bytes);
    if (size && size.width * size.height > claim.rows * claim.columns) {
      throw new DicomProblem(
        'too-large',
        source,
        `a compressed frame declares ${size.width}×${size.height} pixels where the header announces ` +
          `${claim.columns}×${claim.rows}`,
      );
    }
  }
}

/** After decoding: the pixel data must be the size the header announced (one byte of padding allowed). */
export function checkDecodedSize(decodedBytes: number, expectedBytes: number, source: string): void {
  if (decodedBytes > expectedBytes + 1) {
    throw new DicomProblem(
      'too-large',
      source,
      `the pixel data decoded to ${decodedBytes} bytes where the header announces ${expectedBytes}`,
    );
  }
}

/**
 * The claim of a raw (not naturalized) dcmjs dictionary, read before the pixel data is decoded; undefined when
 * the header gives no Rows or Columns (then nothing says how large the decoded frames would be).
 */
export function claimOfRawHeader(dict: Record<string, unknown>): ClaimedPixels | undefined {
  const value = (tag: string) => {
    const values = (dict[tag] as { Value?: unknown } | undefined)?.Value;
    const v: unknown = Array.isArray(values) ? values[0] : undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() ? Number(v) : NaN;
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
  };
  const rows = value('00280010');
  const columns = value('00280011');
  if (rows === undefined || columns === undefined) return undefined;
  return {
    rows,
    columns,
    numberOfFrames: value('00280008') ?? 1,
    samplesPerPixel: value('00280002') ?? 1,
    bitsAllocated: value('00280100') ?? 8,
  };
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
