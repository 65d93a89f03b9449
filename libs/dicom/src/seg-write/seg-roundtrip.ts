// Reads back what writeDicomSeg writes — BINARY, uncompressed, one segment and one source per frame — so the
// writer's specs and the site agent can check a SEG (also one fetched back from a PACS) against the masks it
// came from. The general SEG/RTSTRUCT reader for ingest lives in ../masks; this one is deliberately narrow and
// says so in its errors rather than guessing.
import { data, type NaturalDataset } from 'dcmjs';
import { unpackBinaryFrame } from './bit-pack';
import { SEGMENTATION_STORAGE } from './seg-dataset';

export interface SegFrameRead {
  segmentNumber: number;
  referencedSopInstanceUid: string;
  referencedSopClassUid: string;
  /** Set when the source is a frame of a multi-frame instance. */
  referencedFrameNumber?: number;
  imagePositionPatient?: number[];
  /** rows×columns bytes, 0 or 1. */
  mask: Uint8Array;
}

export interface DicomSegRead {
  sopInstanceUid: string;
  rows: number;
  columns: number;
  segments: { number: number; label: string; algorithmName?: string }[];
  frames: SegFrameRead[];
  /** The naturalized dataset, for checks beyond frames (identity, descriptions). */
  dataset: NaturalDataset;
}

/** Parses a Part 10 BINARY SEG into per-frame masks and references; throws an Error naming what is unsupported. */
export function readDicomSegFrames(bytes: Uint8Array): DicomSegRead {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const dict = data.DicomMessage.readFile(buffer);
  const dataset = data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  if (dataset.SOPClassUID !== SEGMENTATION_STORAGE) {
    throw new Error(`not a Segmentation Storage instance (SOP class ${String(dataset.SOPClassUID)})`);
  }
  if (dataset.SegmentationType !== 'BINARY' || dataset.BitsAllocated !== 1) {
    throw new Error(`only BINARY segmentations with 1 bit per pixel are read here`);
  }
  const rows = num(dataset, 'Rows');
  const columns = num(dataset, 'Columns');
  const frameCount = num(dataset, 'NumberOfFrames');
  const segments = items(dataset, 'SegmentSequence').map((segment) => ({
    number: num(segment, 'SegmentNumber'),
    label: String(segment.SegmentLabel ?? ''),
    ...(typeof segment.SegmentAlgorithmName === 'string'
      ? { algorithmName: segment.SegmentAlgorithmName }
      : {}),
  }));
  const pixelData = dataset.PixelData;
  if (!Array.isArray(pixelData) || pixelData.length !== 1 || !(pixelData[0] instanceof ArrayBuffer)) {
    throw new Error('pixel data is missing or encapsulated (compressed); expected native bit-packed data');
  }
  const packed = new Uint8Array(pixelData[0]);
  const groups = items(dataset, 'PerFrameFunctionalGroupsSequence');
  if (groups.length !== frameCount) {
    throw new Error(`${groups.length} per-frame functional groups for ${frameCount} frames`);
  }
  const frames = groups.map((group, index): SegFrameRead => {
    const segmentNumber = num(
      items(group, 'SegmentIdentificationSequence')[0] ?? {},
      'ReferencedSegmentNumber',
    );
    if (!segments.some((segment) => segment.number === segmentNumber)) {
      throw new Error(
        `frame ${index + 1} refers to segment ${segmentNumber}, which the SegmentSequence lacks`,
      );
    }
    const source = items(items(group, 'DerivationImageSequence')[0] ?? {}, 'SourceImageSequence')[0];
    if (!source) throw new Error(`frame ${index + 1} has no source image reference`);
    const position = items(group, 'PlanePositionSequence')[0]?.ImagePositionPatient;
    return {
      segmentNumber,
      referencedSopInstanceUid: String(source.ReferencedSOPInstanceUID),
      referencedSopClassUid: String(source.ReferencedSOPClassUID),
      ...(source.ReferencedFrameNumber !== undefined
        ? { referencedFrameNumber: num(source, 'ReferencedFrameNumber') }
        : {}),
      ...(Array.isArray(position) ? { imagePositionPatient: position.map(Number) } : {}),
      mask: unpackBinaryFrame(packed, index, rows * columns),
    };
  });
  return { sopInstanceUid: String(dataset.SOPInstanceUID), rows, columns, segments, frames, dataset };
}

function items(dataset: NaturalDataset, keyword: string): NaturalDataset[] {
  const value = dataset[keyword];
  return Array.isArray(value) ? (value as NaturalDataset[]) : [];
}

function num(dataset: NaturalDataset, keyword: string): number {
  const raw = Array.isArray(dataset[keyword]) ? (dataset[keyword] as unknown[])[0] : dataset[keyword];
  const value = Number(raw);
  if (raw === undefined || raw === null || raw === '' || !Number.isFinite(value)) {
    throw new Error(`${keyword} is missing or not a number`);
  }
  return value;
}
