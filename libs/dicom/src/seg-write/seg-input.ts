// What a DICOM-SEG is written from, and the checks that turn a bad request into one clear error before any
// byte is written: a SEG that references the wrong instance or mixes geometries is worse than none.

/** One source frame the segmentation was computed on: a single-frame instance, or one frame of a multi-frame one. */
export interface SegSourceFrame {
  sopClassUid: string;
  sopInstanceUid: string;
  /** 1-based frame number, for multi-frame sources only. */
  frameNumber?: number;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid?: string;
  rows: number;
  columns: number;
  imagePositionPatient?: readonly number[];
  imageOrientationPatient?: readonly number[];
  /** Row spacing, column spacing (mm), as in PixelSpacing. */
  pixelSpacing?: readonly number[];
  sliceThickness?: number;
  /** Patient and study attributes by DICOM keyword (PatientName, PatientID, StudyDate, AccessionNumber, …). */
  identity: Record<string, string | undefined>;
}

export interface SegSegment {
  /** 1, 2, 3, … in order: DICOM numbers segments from 1 without gaps. */
  number: number;
  /** The task's class name, shown by viewers. */
  label: string;
  /** sRGB 0–255, written as the recommended display colour. */
  color?: readonly [number, number, number];
  /**
   * What made this segment's masks, when segments of one SEG come from different algorithms (slices of a series
   * routed to different tasks, or to frozen SAM); default the SEG's `algorithm`.
   */
  algorithm?: SegAlgorithm;
}

/** Who made the masks; goes into the segment, series and equipment descriptions. */
export interface SegAlgorithm {
  task: string;
  adapterVersion?: number;
  bundleVersion?: number;
  /** Base model name and weight fingerprint, e.g. "casam-small@1a2b3c4d". */
  baseModel: string;
  /** Version of the software that wrote the SEG (the site agent). */
  softwareVersion: string;
}

/** Returns the mask of one segment on one source frame: rows×columns bytes, non-zero = inside. */
export type SegMaskSource = (segmentNumber: number, sourceIndex: number) => Uint8Array | undefined;

export interface WriteDicomSegInput {
  sources: readonly SegSourceFrame[];
  segments: readonly SegSegment[];
  masks: SegMaskSource;
  algorithm: SegAlgorithm;
  seriesDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  /** Leave out frames whose mask is empty (default true); at least one frame is always written. */
  omitEmptyFrames?: boolean;
  now?: Date;
  /** UID root for the new series, instance and dimension organization; default 2.25 (UUID-derived). */
  uidRoot?: string;
}

/** A request that cannot become a valid SEG; the message says which source or segment is wrong. */
export class SegInputError extends Error {
  override readonly name = 'SegInputError';
}

const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** Throws SegInputError for the first thing that makes the input unwritable; returns nothing otherwise. */
export function validateSegInput(input: WriteDicomSegInput): void {
  const { sources, segments } = input;
  if (sources.length === 0)
    throw new SegInputError('no source frames: a SEG must reference at least one image');
  if (segments.length === 0) throw new SegInputError('no segments: a SEG must describe at least one segment');
  segments.forEach((segment, index) => {
    if (segment.number !== index + 1) {
      throw new SegInputError(
        `segment numbers must be 1, 2, 3, … in order; got ${segment.number} at position ${index + 1}`,
      );
    }
    if (segment.label.trim() === '') throw new SegInputError(`segment ${segment.number} has an empty label`);
    if (segment.color && !segment.color.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
      throw new SegInputError(`segment ${segment.number} colour must be three integers 0–255`);
    }
  });
  if (input.uidRoot !== undefined && !UID_PATTERN.test(input.uidRoot)) {
    throw new SegInputError(`uidRoot "${input.uidRoot}" is not a DICOM UID (digits separated by dots)`);
  }

  const first = sources[0];
  const seen = new Set<string>();
  sources.forEach((source, index) => {
    const where = `source ${index} (${source.sopInstanceUid}${source.frameNumber ? ` frame ${source.frameNumber}` : ''})`;
    for (const uid of [
      source.sopClassUid,
      source.sopInstanceUid,
      source.seriesInstanceUid,
      source.studyInstanceUid,
    ]) {
      if (!UID_PATTERN.test(uid)) throw new SegInputError(`${where}: "${uid}" is not a DICOM UID`);
    }
    if (
      source.frameNumber !== undefined &&
      !(Number.isInteger(source.frameNumber) && source.frameNumber >= 1)
    ) {
      throw new SegInputError(`${where}: frame number must be a positive integer`);
    }
    const key = `${source.sopInstanceUid}#${source.frameNumber ?? 0}`;
    if (seen.has(key)) throw new SegInputError(`${where}: the same source frame is listed twice`);
    seen.add(key);
    if (!(
      Number.isInteger(source.rows) &&
      source.rows > 0 &&
      Number.isInteger(source.columns) &&
      source.columns > 0
    )) {
      throw new SegInputError(`${where}: rows and columns must be positive integers`);
    }
    // One SEG instance has one Rows/Columns and belongs to one study and one frame of reference.
    if (source.rows !== first.rows || source.columns !== first.columns) {
      throw new SegInputError(
        `${where}: ${source.rows}×${source.columns} differs from ${first.rows}×${first.columns}; one SEG has one frame size`,
      );
    }
    if (source.studyInstanceUid !== first.studyInstanceUid) {
      throw new SegInputError(`${where}: belongs to another study; one SEG covers one study`);
    }
    if (source.frameOfReferenceUid !== first.frameOfReferenceUid) {
      throw new SegInputError(
        `${where}: mixed frame of reference (${source.frameOfReferenceUid ?? 'none'} vs ${first.frameOfReferenceUid ?? 'none'})`,
      );
    }
    const hasPosition =
      source.imagePositionPatient !== undefined && source.imageOrientationPatient !== undefined;
    const firstHasPosition =
      first.imagePositionPatient !== undefined && first.imageOrientationPatient !== undefined;
    if (hasPosition !== firstHasPosition) {
      throw new SegInputError(`${where}: some sources have image position and orientation and others do not`);
    }
    if (hasPosition) checkGeometry(source, first, where);
  });
}

/** Orientation and pixel spacing go into the shared functional groups, so they must agree across sources. */
function checkGeometry(source: SegSourceFrame, first: SegSourceFrame, where: string): void {
  if (!source.frameOfReferenceUid) {
    throw new SegInputError(`${where}: has image position but no frame of reference UID`);
  }
  if (source.imagePositionPatient?.length !== 3 || source.imageOrientationPatient?.length !== 6) {
    throw new SegInputError(`${where}: image position needs 3 numbers and orientation 6`);
  }
  if (source.pixelSpacing?.length !== 2 || !source.pixelSpacing.every((v) => v > 0)) {
    throw new SegInputError(`${where}: image position needs pixel spacing (two positive numbers, mm)`);
  }
  if (!sameNumbers(source.imageOrientationPatient, first.imageOrientationPatient)) {
    throw new SegInputError(
      `${where}: image orientation differs from source 0; one SEG has one plane orientation`,
    );
  }
  if (
    !sameNumbers(source.pixelSpacing, first.pixelSpacing) ||
    source.sliceThickness !== first.sliceThickness
  ) {
    throw new SegInputError(`${where}: pixel spacing or slice thickness differs from source 0`);
  }
}

function sameNumbers(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((value, index) => Math.abs(value - b[index]) < 1e-6);
}

/** The mask of one (segment, source), checked for size; non-zero bytes count as inside. */
export function maskFor(input: WriteDicomSegInput, segmentNumber: number, sourceIndex: number): Uint8Array {
  const source = input.sources[sourceIndex];
  const mask = input.masks(segmentNumber, sourceIndex);
  if (mask === undefined) {
    throw new SegInputError(`no mask for segment ${segmentNumber} on source ${sourceIndex}`);
  }
  if (mask.length !== source.rows * source.columns) {
    throw new SegInputError(
      `mask for segment ${segmentNumber} on source ${sourceIndex} has ${mask.length} pixels; expected rows×columns = ${source.rows}×${source.columns} = ${source.rows * source.columns}`,
    );
  }
  return mask;
}
