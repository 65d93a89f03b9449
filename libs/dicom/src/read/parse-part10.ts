// Part 10 bytes → a naturalized dataset, decompressed when the pixel data is compressed. Everything
// downstream (image reader, SEG and RTSTRUCT readers) starts from a ParsedDicom, so the "is it DICOM at all"
// and "can we decode it" questions are answered once, with the file's name in every message.
import dcmjs from 'dcmjs';
import { decodeToExplicitLittleEndian } from './codecs';
import { type Dataset, str } from './dataset-fields';
import { DicomProblem } from './dicom-problem';
import { type DicomSizeLimits, checkBitstreams, checkClaimedSize, claimOfRawHeader } from './size-limits';
import { describeTransferSyntax, transferSyntaxLabel } from './transfer-syntax';

// dcmjs logs every odd VR and short value it works around (its "validation.dcmjs" logger, at warn and error
// level) to the console; hospital files are full of them, and per-file problems are our report instead.
dcmjs.log.setLevel('error');
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

export interface ParsedDicom {
  source: string;
  /** The transfer syntax the file was stored in (before any decoding). */
  transferSyntaxUid: string;
  sopClassUid: string;
  dataset: Dataset;
}

/** True when the bytes carry the Part 10 preamble + "DICM" (cheap check for folder walks). */
export function looksLikePart10(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && String.fromCharCode(...bytes.subarray(128, 132)) === 'DICM';
}

/**
 * Parses one Part 10 file; throws DicomProblem ('not-dicom', 'unsupported-transfer-syntax', 'too-large').
 * Compressed pixel data is decoded only after the header's claimed size passed `limits`.
 */
export async function parsePart10(
  bytes: Uint8Array,
  source: string,
  limits: DicomSizeLimits = {},
): Promise<ParsedDicom> {
  if (!looksLikePart10(bytes)) {
    throw new DicomProblem(
      'not-dicom',
      source,
      'not a DICOM Part 10 file (no "DICM" after the 128-byte preamble)',
    );
  }
  const first = readDict(bytes, source);
  const transferSyntaxUid = metaString(first.meta, '00020010') ?? '';
  const syntax = describeTransferSyntax(transferSyntaxUid);
  if (syntax.kind === 'unsupported') {
    throw new DicomProblem(
      'unsupported-transfer-syntax',
      source,
      `transfer syntax ${transferSyntaxLabel(transferSyntaxUid)} cannot be decoded here; ` +
        'ask the PACS for Explicit VR Little Endian (uncompressed) or a lossless JPEG/RLE syntax',
    );
  }
  let dict = first;
  if (syntax.kind === 'codec' && first.dict['7FE00010'] !== undefined) {
    // The codecs allocate what the header asks for: check the claim first. A header without Rows/Columns gives
    // no size to check, so its compressed pixel data is not decoded at all.
    const claim = claimOfRawHeader(first.dict);
    if (!claim)
      throw new DicomProblem(
        'no-pixel-data',
        source,
        'Rows/Columns are missing: the pixel data is not decoded',
      );
    checkClaimedSize(claim, limits, source);
    checkBitstreams((first.dict['7FE00010'] as { Value?: unknown } | undefined)?.Value, claim, source);
    try {
      dict = readDict(await decodeToExplicitLittleEndian(bytes), source);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new DicomProblem(
        'unsupported-transfer-syntax',
        source,
        `pixel data in ${transferSyntaxLabel(transferSyntaxUid)} could not be decoded (${why})`,
      );
    }
  }
  let dataset: Dataset;
  try {
    dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new DicomProblem('not-dicom', source, `DICOM dataset could not be interpreted (${why})`);
  }
  const sopClassUid = str(dataset, 'SOPClassUID') ?? metaString(first.meta, '00020002') ?? '';
  return { source, transferSyntaxUid, sopClassUid, dataset };
}

function readDict(bytes: Uint8Array, source: string) {
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const dict = dcmjs.data.DicomMessage.readFile(buffer);
    if (!dict || typeof dict.dict !== 'object' || typeof dict.meta !== 'object')
      throw new Error('empty dataset');
    return dict;
  } catch (error) {
    if (error instanceof DicomProblem) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new DicomProblem('not-dicom', source, `DICOM Part 10 structure is damaged or truncated (${why})`);
  }
}

function metaString(meta: Record<string, { Value?: unknown[] }>, tag: string): string | undefined {
  const value = meta[tag]?.Value?.[0];
  return typeof value === 'string' ? value.replace(/\0/g, '').trim() : undefined;
}
