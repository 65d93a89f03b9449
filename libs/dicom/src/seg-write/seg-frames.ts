// Which frames a SEG holds and in what order: one per (segment, source frame), sorted by segment and then by
// position along the slice normal, as viewers expect to stack them. Sources with patient geometry are indexed
// by that position; sources without (a 2D secondary capture, a photo) by their place in the given stack.
import { SegInputError, maskFor, type WriteDicomSegInput } from './seg-input';

/** 'patient': frames carry ImagePositionPatient; 'stack': frames carry Stack ID + In-Stack Position Number. */
export type SegGeometry = 'patient' | 'stack';

export interface PlannedSegFrame {
  segmentNumber: number;
  sourceIndex: number;
  mask: Uint8Array;
  /** [segment number, position index] — the frame's coordinates in the SEG's two dimensions. */
  dimensionIndexValues: [number, number];
}

export interface SegFramePlan {
  geometry: SegGeometry;
  frames: PlannedSegFrame[];
  /** Smallest distance between adjacent source positions along the normal (mm), with two or more positions. */
  sliceGap?: number;
}

/** Chooses the frames to write; empty ones are left out unless asked, but one frame always remains. */
export function planSegFrames(input: WriteDicomSegInput): SegFramePlan {
  const geometry: SegGeometry = input.sources[0].imagePositionPatient ? 'patient' : 'stack';
  const distances = geometry === 'patient' ? normalDistances(input) : undefined;
  const positionIndex = distances ? rank(distances) : input.sources.map((_, index) => index + 1);
  const order = input.sources.map((_, index) => index).sort((a, b) => positionIndex[a] - positionIndex[b]);
  const omitEmpty = input.omitEmptyFrames ?? true;
  const frames: PlannedSegFrame[] = [];
  for (const segment of input.segments) {
    for (const sourceIndex of order) {
      const mask = maskFor(input, segment.number, sourceIndex);
      if (omitEmpty && !mask.some((value) => value !== 0)) continue;
      frames.push({
        segmentNumber: segment.number,
        sourceIndex,
        mask,
        dimensionIndexValues: [segment.number, positionIndex[sourceIndex]],
      });
    }
  }
  if (frames.length === 0) {
    // A SEG with no frames is invalid (NumberOfFrames ≥ 1): keep the first segment on the first slice, empty.
    const sourceIndex = order[0];
    const segmentNumber = input.segments[0].number;
    frames.push({
      segmentNumber,
      sourceIndex,
      mask: maskFor(input, segmentNumber, sourceIndex),
      dimensionIndexValues: [segmentNumber, positionIndex[sourceIndex]],
    });
  }
  return {
    geometry,
    frames,
    ...(distances && distances.length > 1 ? { sliceGap: smallestGap(distances) } : {}),
  };
}

/** Each source's position along the plane normal (mm). */
function normalDistances(input: WriteDicomSegInput): number[] {
  const orientation = input.sources[0].imageOrientationPatient ?? [];
  const normal = cross(orientation.slice(0, 3), orientation.slice(3, 6));
  return input.sources.map((source) => dot(source.imagePositionPatient ?? [], normal));
}

/** 1-based rank of each distance; equal positions are an error (two frames would share index values). */
function rank(distances: number[]): number[] {
  const sorted = [...distances].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] - sorted[i - 1] < 1e-4) {
      throw new SegInputError(
        `two source frames lie at the same position (${sorted[i].toFixed(4)} mm along the normal)`,
      );
    }
  }
  return distances.map((distance) => sorted.indexOf(distance) + 1);
}

function smallestGap(distances: number[]): number {
  const sorted = [...distances].sort((a, b) => a - b);
  return Math.min(...sorted.slice(1).map((d, i) => d - sorted[i]));
}

const cross = (a: readonly number[], b: readonly number[]): number[] => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

const dot = (a: readonly number[], b: readonly number[]): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
