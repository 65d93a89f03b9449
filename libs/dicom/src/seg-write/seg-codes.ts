// The coded concepts and descriptions a SEG carries. Codes are the generic ones the standard's context groups
// offer (a CA-SAM task names its classes freely, so the segment says "tissue" and the label says what it is);
// the descriptions put task, adapter, bundle and base model wherever a viewer or PACS shows them.
import type { SegAlgorithm } from './seg-input';

export interface CodedConcept {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning: string;
}

const code = (value: string, scheme: string, meaning: string): CodedConcept => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

/** CID 7202: why the source image is referenced. */
export const SOURCE_IMAGE_PURPOSE = code('121322', 'DCM', 'Source image for image processing operation');
/** CID 7203: how the frame was derived. */
export const SEGMENTATION_DERIVATION = code('113076', 'DCM', 'Segmentation');
/** CID 7150 category and CID 7151 type: generic tissue (SNOMED CT 85756007). */
export const TISSUE_CATEGORY = code('85756007', 'SCT', 'Tissue');
export const TISSUE_TYPE = code('85756007', 'SCT', 'Tissue');
/** CID 7162: the algorithm family of a learned segmenter. */
export const ARTIFICIAL_INTELLIGENCE = code('123110', 'DCM', 'Artificial Intelligence');

/** LO (long string) holds at most 64 characters; longer values would be cut by the encoder without a word. */
export const LO_MAX = 64;
const ELLIPSIS = '...';

/** "adapter 3 bundle 12 base casam-small@1a2b3c4d": the versions that identify the model that segmented. */
export function algorithmVersion(algorithm: SegAlgorithm): string {
  return [
    algorithm.adapterVersion !== undefined ? `adapter ${algorithm.adapterVersion}` : undefined,
    algorithm.bundleVersion !== undefined ? `bundle ${algorithm.bundleVersion}` : undefined,
    `base ${algorithm.baseModel}`,
  ]
    .filter((part): part is string => part !== undefined)
    .join(' ');
}

/** "CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d", shortened to fit LO keeping the versions. */
export function algorithmName(algorithm: SegAlgorithm): string {
  return fitLongString(`CA-SAM ${algorithm.task}`, algorithmVersion(algorithm));
}

/**
 * Joins a head and a tail with a space; when too long the head is cut (marked "..."), else the whole. ASCII
 * only, so a PACS that ignores the character set still shows it right.
 */
export function fitLongString(head: string, tail: string, max: number = LO_MAX): string {
  const full = `${head} ${tail}`;
  if (full.length <= max) return full;
  const headRoom = max - tail.length - 1 - ELLIPSIS.length;
  if (headRoom >= 8) return `${head.slice(0, headRoom)}${ELLIPSIS} ${tail}`;
  return full.slice(0, max - ELLIPSIS.length) + ELLIPSIS;
}

/** The equipment module's SoftwareVersions (multi-valued LO): writer, then each model part. */
export function softwareVersions(algorithm: SegAlgorithm): string[] {
  return [
    `site-agent ${algorithm.softwareVersion}`,
    algorithm.adapterVersion !== undefined ? `adapter ${algorithm.adapterVersion}` : undefined,
    algorithm.bundleVersion !== undefined ? `bundle ${algorithm.bundleVersion}` : undefined,
    algorithm.baseModel,
  ]
    .filter((part): part is string => part !== undefined)
    .map((part) => part.slice(0, LO_MAX));
}

/** ContentLabel is a CS: upper-case letters, digits, space and underscore, at most 16 characters. */
export function contentLabel(task: string): string {
  const label = task
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .slice(0, 16)
    .replace(/^_+|_+$/g, '');
  return label === '' ? 'SEGMENTATION' : label;
}
