// Everything that can be wrong with a hospital's DICOM file, as one error type with a stable code: the site
// agent reports problems per file and carries on with the rest, so callers branch on `code`, never on text.

/** Stable reasons a file (or a mask, or a series) is not used. */
export type DicomProblemCode =
  | 'not-dicom'
  | 'unsupported-transfer-syntax'
  | 'unsupported-sop-class'
  | 'no-pixel-data'
  | 'inconsistent-geometry'
  | 'unknown-reference'
  | 'too-large'
  | 'unreadable-file';

/** A problem as data, for reports: which file, why, and a sentence a hospital's IT team can act on. */
export interface DicomProblemInfo {
  file: string;
  code: DicomProblemCode;
  message: string;
}

/** Thrown by the readers; the message always names the file (and, where it matters, the transfer syntax). */
export class DicomProblem extends Error {
  override readonly name = 'DicomProblem';

  constructor(
    readonly code: DicomProblemCode,
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }

  toInfo(): DicomProblemInfo {
    return { file: this.file, code: this.code, message: this.message };
  }
}

/**
 * Turns anything caught while reading `file` into a problem record. DicomProblems keep their code; any other
 * error (a parser bug on a malformed file) becomes 'unreadable-file' rather than escaping as a crash.
 */
export function toProblemInfo(error: unknown, file: string): DicomProblemInfo {
  if (error instanceof DicomProblem) return error.toInfo();
  const why = error instanceof Error ? error.message : String(error);
  return { file, code: 'unreadable-file', message: `${file}: could not be read as DICOM (${why})` };
}
