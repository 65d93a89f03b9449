/**
 * What the trainer learns from, independent of any dataset loader: an RGB image and its region masks at the
 * image's own size. The site agent feeds these from its folder reader, a NIfTI slicer or anything else.
 */
import type { RgbImage } from '../image/image-io';
import type { EmbeddingHandle } from './embedding-cache';

/** One ground-truth region: a binary mask (0 | 1, row-major H·W at the image's size) and its class. */
export interface RegionMask {
  classId: string;
  mask: Uint8Array;
}

export interface TrainingItem {
  id: string;
  image: RgbImage;
  masks: RegionMask[];
}

/** Arrays or streams (the site agent may read items lazily). */
export type ItemSource<T> = Iterable<T> | AsyncIterable<T>;

/** A training item whose image is no longer needed: its embedding sits in the cache. */
export interface EmbeddedItem {
  id: string;
  handle: EmbeddingHandle;
  masks: RegionMask[];
}
