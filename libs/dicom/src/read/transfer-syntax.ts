// Which transfer syntaxes we read, and how. Uncompressed ones dcmjs parses directly; compressed ones are
// decoded to Explicit VR Little Endian by dcmjs-codecs (WASM builds of libjpeg, CharLS, OpenJPEG, the RLE
// codec), which in Node decodes every syntax listed with `codec` below (checked by a round-trip spec). The
// rest (MPEG/HEVC video, JPIP, big-endian retired oddities we have not tested) is a clear per-file problem.

export type TransferSyntaxKind = 'native' | 'codec' | 'unsupported';

interface TransferSyntaxEntry {
  name: string;
  kind: TransferSyntaxKind;
}

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';

const TABLE: Record<string, TransferSyntaxEntry> = {
  [IMPLICIT_VR_LITTLE_ENDIAN]: { name: 'Implicit VR Little Endian', kind: 'native' },
  [EXPLICIT_VR_LITTLE_ENDIAN]: { name: 'Explicit VR Little Endian', kind: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', kind: 'native' },
  // dcmjs parses big-endian datasets but leaves OW pixel words as stored; the codecs swap them to LE.
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian (retired)', kind: 'codec' },
  [RLE_LOSSLESS]: { name: 'RLE Lossless', kind: 'codec' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', kind: 'codec' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', kind: 'unsupported' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', kind: 'unsupported' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, First-Order Prediction (Process 14 SV1)', kind: 'codec' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', kind: 'codec' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Lossy (Near-Lossless)', kind: 'codec' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (Lossless Only)', kind: 'codec' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', kind: 'codec' },
  '1.2.840.10008.1.2.4.100': { name: 'MPEG2 Main Profile / Main Level', kind: 'unsupported' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264 High Profile', kind: 'unsupported' },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL Lossless', kind: 'codec' },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL', kind: 'codec' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 (Lossless Only)', kind: 'codec' },
  '1.2.840.10008.1.2.4.202': { name: 'High-Throughput JPEG 2000 with RPCL (Lossless Only)', kind: 'codec' },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000', kind: 'codec' },
};

/** How a transfer syntax is read, and its name for messages. Unknown UIDs are unsupported. */
export function describeTransferSyntax(uid: string): TransferSyntaxEntry {
  return TABLE[uid] ?? { name: 'unknown transfer syntax', kind: 'unsupported' };
}

/** "1.2.840.10008.1.2.5 (RLE Lossless)": how messages name a transfer syntax. */
export function transferSyntaxLabel(uid: string): string {
  return `${uid} (${describeTransferSyntax(uid).name})`;
}
