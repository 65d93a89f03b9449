/** One dataset in the DICOM JSON model (PS3.18 §F.2): tags as 8 hex digits. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] } | undefined>;

export const TAG = {
  studyUid: '0020000D',
  seriesUid: '0020000E',
  sopUid: '00080018',
  modality: '00080060',
  numberOfSeriesInstances: '00201209',
  failedSopSequence: '00081198',
  referencedSopSequence: '00081199',
  referencedSopInstanceUid: '00081155',
  failureReason: '00081197',
} as const;

/** The first value of `tag` as a string (UIDs, codes, numbers), or undefined when absent. */
export function dicomJsonString(ds: DicomJson, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  return v === undefined || v === null ? undefined : String(v);
}

/** The items of a sequence attribute. */
export function dicomJsonItems(ds: DicomJson, tag: string): DicomJson[] {
  return (ds[tag]?.Value ?? []) as DicomJson[];
}

/** A QIDO or STOW body must be a JSON array of datasets (QIDO) or one dataset (STOW). */
export function isDicomJsonList(v: unknown): v is DicomJson[] {
  return Array.isArray(v) && v.every((d) => d !== null && typeof d === 'object' && !Array.isArray(d));
}
