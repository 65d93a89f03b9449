// Part 10 bytes → DicomInstance for images (CT, MR, enhanced multi-frame CT/MR, any other single-channel or
// RGB image). SEG and RTSTRUCT are not images: they go to the mask readers and are refused here by class.
import { type Dataset, binaryParts, num, str } from './dataset-fields';
import type {
  DicomFrameInfo,
  DicomIdentity,
  DicomInstance,
  PhotometricInterpretation,
} from './dicom-instance';
import { DicomProblem } from './dicom-problem';
import { frameGeometry, frameMacro } from './geometry';
import { type ParsedDicom, parsePart10 } from './parse-part10';
import { type PixelLayout, decodeFrame, frameByteLength } from './pixel-data';
import { isNonImageSopClass, sopClassName } from './sop-classes';
import { type DicomSizeLimits, checkClaimedSize, checkDecodedSize } from './size-limits';
import { describeTransferSyntax, transferSyntaxLabel } from './transfer-syntax';

/**
 * Reads one image file; throws DicomProblem with a per-file reason when it cannot be used ('too-large' past
 * `limits`, checked from the header before anything is decoded).
 */
export async function readDicomInstance(
  bytes: Uint8Array,
  source: string,
  limits: DicomSizeLimits = {},
): Promise<DicomInstance> {
  return imageFromParsed(await parsePart10(bytes, source, limits), limits);
}

/** The image view of an already parsed file (the folder reader parses once, then dispatches by class). */
export function imageFromParsed(parsed: ParsedDicom, limits: DicomSizeLimits = {}): DicomInstance {
  const { dataset: ds, source, sopClassUid } = parsed;
  if (isNonImageSopClass(sopClassUid)) {
    throw new DicomProblem('unsupported-sop-class', source, `${sopClassName(sopClassUid)} is not an image`);
  }
  const pixelParts = binaryParts(ds, 'PixelData');
  if (!pixelParts) throw new DicomProblem('no-pixel-data', source, 'the file has no Pixel Data (7FE0,0010)');
  const layout = pixelLayout(ds, source);
  const numberOfFrames = Math.max(1, Math.floor(num(ds, 'NumberOfFrames') ?? 1));
  // Before the frames' descriptions and decoded values are allocated (a native file's claim is checked here).
  checkClaimedSize({ ...layout, numberOfFrames }, limits, source);
  const pixelData = concat(pixelParts);
  const needed = frameByteLength(layout) * numberOfFrames;
  if (describeTransferSyntax(parsed.transferSyntaxUid).kind === 'codec')
    checkDecodedSize(pixelData.byteLength, needed, source);
  if (pixelData.byteLength < needed) {
    throw new DicomProblem(
      'no-pixel-data',
      source,
      `pixel data is truncated: ${numberOfFrames} frame(s) of ${layout.rows}×${layout.columns} need ${needed} ` +
        `bytes, the file has ${pixelData.byteLength} (transfer syntax ${transferSyntaxLabel(parsed.transferSyntaxUid)})`,
    );
  }
  const frames = Array.from({ length: numberOfFrames }, (_, i) => frameInfo(ds, i));
  return {
    source,
    transferSyntaxUid: parsed.transferSyntaxUid,
    sopClassUid,
    sopInstanceUid: required(ds, 'SOPInstanceUID', source),
    studyInstanceUid: required(ds, 'StudyInstanceUID', source),
    seriesInstanceUid: required(ds, 'SeriesInstanceUID', source),
    frameOfReferenceUid: str(ds, 'FrameOfReferenceUID'),
    modality: str(ds, 'Modality') ?? 'OT',
    rows: layout.rows,
    columns: layout.columns,
    numberOfFrames,
    photometricInterpretation: photometric(ds, source),
    samplesPerPixel: layout.samplesPerPixel,
    bitsAllocated: layout.bitsAllocated,
    bitsStored: layout.bitsStored,
    signed: layout.signed,
    frames,
    identity: readIdentity(ds),
    readFrame: (index) => decodeFrame(pixelData, layout, index, frames[index].rescale),
  };
}

/** The identity tags (kept apart from everything else the instance carries). */
export function readIdentity(ds: Dataset): DicomIdentity {
  return {
    patientName: str(ds, 'PatientName'),
    patientId: str(ds, 'PatientID'),
    patientBirthDate: str(ds, 'PatientBirthDate'),
    patientSex: str(ds, 'PatientSex'),
    studyDate: str(ds, 'StudyDate'),
    studyTime: str(ds, 'StudyTime'),
    studyId: str(ds, 'StudyID'),
    accessionNumber: str(ds, 'AccessionNumber'),
    referringPhysicianName: str(ds, 'ReferringPhysicianName'),
    studyDescription: str(ds, 'StudyDescription'),
    seriesNumber: num(ds, 'SeriesNumber'),
    instanceNumber: num(ds, 'InstanceNumber'),
  };
}

function frameInfo(ds: Dataset, index: number): DicomFrameInfo {
  // Enhanced CT/MR carry rescale and window in functional groups; classic files at the top level.
  const transform = frameMacro(ds, index, 'PixelValueTransformationSequence') ?? ds;
  const voi = frameMacro(ds, index, 'FrameVOILUTSequence') ?? ds;
  const center = num(voi, 'WindowCenter');
  const width = num(voi, 'WindowWidth');
  return {
    geometry: frameGeometry(ds, index),
    rescale: {
      slope: num(transform, 'RescaleSlope') ?? 1,
      intercept: num(transform, 'RescaleIntercept') ?? 0,
    },
    window:
      center !== undefined && width !== undefined && width > 0
        ? { center, width, explanation: str(voi, 'WindowCenterWidthExplanation') }
        : undefined,
  };
}

function pixelLayout(ds: Dataset, source: string): PixelLayout {
  const rows = num(ds, 'Rows');
  const columns = num(ds, 'Columns');
  const bitsAllocated = num(ds, 'BitsAllocated');
  if (!rows || !columns || rows < 1 || columns < 1) {
    throw new DicomProblem('no-pixel-data', source, 'Rows/Columns are missing or zero');
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new DicomProblem(
      'no-pixel-data',
      source,
      `Bits Allocated ${bitsAllocated ?? 'missing'} is not 8, 16 or 32`,
    );
  }
  const samplesPerPixel = num(ds, 'SamplesPerPixel') ?? 1;
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    throw new DicomProblem('no-pixel-data', source, `Samples per Pixel ${samplesPerPixel} is not 1 or 3`);
  }
  return {
    rows,
    columns,
    samplesPerPixel,
    planarConfiguration: num(ds, 'PlanarConfiguration') ?? 0,
    bitsAllocated,
    bitsStored: num(ds, 'BitsStored') ?? bitsAllocated,
    signed: num(ds, 'PixelRepresentation') === 1,
  };
}

function photometric(ds: Dataset, source: string): PhotometricInterpretation {
  const value = str(ds, 'PhotometricInterpretation') ?? 'MONOCHROME2';
  if (value === 'MONOCHROME1' || value === 'MONOCHROME2' || value === 'RGB') return value;
  // Decoded YBR (JPEG) comes back as RGB from the codecs; anything else (PALETTE COLOR…) we do not render.
  if (value.startsWith('YBR')) return 'RGB';
  throw new DicomProblem('no-pixel-data', source, `Photometric Interpretation ${value} is not supported`);
}

function required(ds: Dataset, key: string, source: string): string {
  const value = str(ds, key);
  if (!value) throw new DicomProblem('not-dicom', source, `required tag ${key} is missing`);
  return value;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
