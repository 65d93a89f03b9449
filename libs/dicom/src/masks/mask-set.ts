// What both mask readers return: per referenced frame of a series, one binary mask per class and a label
// map, plus the class names in order. Masks are matched to frames by referenced SOP instance (+ frame
// number), so they stay right whatever order the files came in; a mask that points outside the series is a
// problem for that mask alone.
import type { SliceStack } from '../read/assemble-series';
import type { DicomProblemInfo } from '../read/dicom-problem';
import { type Vec3, dot } from '../read/geometry';

export interface MaskFrame {
  sopInstanceUid: string;
  /** 1-based frame number within the referenced instance. */
  frameNumber: number;
  /** Index into `series.slices`. */
  sliceIndex: number;
  /** Class name → rows×columns mask of 0/1. */
  masks: Record<string, Uint8Array>;
  /** 0 = background, k = classNames[k − 1]; where classes overlap the later class wins. */
  labelMap: Uint8Array;
}

export interface MaskSet {
  source: string;
  kind: 'seg' | 'rtstruct';
  /** SegmentLabel / ROIName, in segment-number / ROI-number order. */
  classNames: string[];
  /** In series order. */
  frames: MaskFrame[];
  problems: DicomProblemInfo[];
}

/** Finds slices of a series by reference or by position. */
export class SliceIndex {
  private readonly byReference = new Map<string, number>();

  constructor(readonly series: SliceStack) {
    series.slices.forEach((s, i) => this.byReference.set(`${s.sopInstanceUid}#${s.frameNumber}`, i));
  }

  /** The slice an (instance, frame) reference points at; frame defaults to 1 (single-frame sources). */
  byUid(sopInstanceUid: string, frameNumber = 1): number | undefined {
    return this.byReference.get(`${sopInstanceUid}#${frameNumber}`);
  }

  /** True when the instance is in the series at all (to tell "wrong frame" from "unknown instance"). */
  hasInstance(sopInstanceUid: string): boolean {
    return this.series.slices.some((s) => s.sopInstanceUid === sopInstanceUid);
  }

  /**
   * The slice whose plane contains `point` (mm): nearest along the normal, within half the smallest gap
   * between slices (0.5 mm for a single slice). Used when a mask frame or contour carries no reference.
   */
  byPosition(point: Vec3): number | undefined {
    const { normal, slices } = this.series;
    if (!normal || slices.length === 0) return undefined;
    const at = dot(point, normal);
    let gap = Infinity;
    for (let i = 1; i < slices.length; i++) gap = Math.min(gap, slices[i].location - slices[i - 1].location);
    const tolerance = Number.isFinite(gap) ? gap / 2 : 0.5;
    let best: number | undefined;
    let bestDistance = tolerance;
    slices.forEach((s, i) => {
      const distance = Math.abs(s.location - at);
      if (distance <= bestDistance) [best, bestDistance] = [i, distance];
    });
    return best;
  }
}

/** Accumulates class masks per slice (OR-ing repeats) and builds the MaskSet with label maps. */
export class MaskCollector {
  private readonly perSlice = new Map<number, Record<string, Uint8Array>>();

  constructor(
    private readonly series: SliceStack,
    private readonly classNames: string[],
  ) {}

  add(sliceIndex: number, className: string, mask: Uint8Array): void {
    const masks = this.perSlice.get(sliceIndex) ?? {};
    const target = (masks[className] ??= new Uint8Array(mask.length));
    for (let i = 0; i < mask.length; i++) target[i] |= mask[i];
    this.perSlice.set(sliceIndex, masks);
  }

  build(source: string, kind: MaskSet['kind'], problems: DicomProblemInfo[]): MaskSet {
    const frames = [...this.perSlice.entries()]
      .sort(([a], [b]) => a - b)
      .map(([sliceIndex, masks]) => {
        const slice = this.series.slices[sliceIndex];
        const labelMap = new Uint8Array(this.series.rows * this.series.columns);
        this.classNames.forEach((name, k) => {
          const mask = masks[name];
          if (mask) for (let i = 0; i < mask.length; i++) if (mask[i]) labelMap[i] = k + 1;
        });
        return {
          sopInstanceUid: slice.sopInstanceUid,
          frameNumber: slice.frameNumber,
          sliceIndex,
          masks,
          labelMap,
        };
      });
    return { source, kind, classNames: this.classNames, frames, problems };
  }
}
