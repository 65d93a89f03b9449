// dcmjs ships no TypeScript types. This declares only the part of its API this library uses (Part 10 read,
// naturalize, write), loosely: datasets are plain records that the readers check field by field.
declare module 'dcmjs' {
  /** A naturalized dataset: keyword → value (string, number, array, nested datasets, ArrayBuffers). */
  type NaturalDataset = Record<string, unknown>;

  interface DicomDictLike {
    meta: Record<string, { vr: string; Value?: unknown[] }>;
    dict: Record<string, unknown>;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }

  const data: {
    DicomMessage: {
      readFile(
        buffer: ArrayBuffer,
        options?: { ignoreErrors?: boolean; untilTag?: string | null; includeUntilTagValue?: boolean },
      ): DicomDictLike;
    };
    DicomMetaDictionary: {
      naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>;
      uid(): string;
    };
    DicomDict: new (meta: Record<string, unknown>) => DicomDictLike;
    datasetToDict(dataset: NaturalDataset): DicomDictLike;
    datasetToBuffer(dataset: NaturalDataset): Buffer;
    /** sRGB in 0–1 → CIELab scaled to 0–65535, as RecommendedDisplayCIELabValue wants (seg-write). */
    Colors: { rgb2DICOMLAB(rgb: readonly number[]): number[] };
  };

  interface Logger {
    setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void;
  }
  const log: Logger & { getLogger(name: string): Logger };

  const dcmjs: { data: typeof data; log: typeof log };
  export default dcmjs;
  export { data, log, NaturalDataset, DicomDictLike };
}
