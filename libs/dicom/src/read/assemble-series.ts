// Instances → series with slices in anatomical order. Order comes from geometry only (each frame's position
// projected on the slice normal): file names and InstanceNumber are routinely wrong or reset in hospital
// exports. A series whose frames do not form one stack (mixed orientations or sizes, two frames at the same
// place, frames without a position) is refused as a whole with the reason; other series are unaffected.
import type { DicomIdentity, DicomInstance } from './dicom-instance';
import type { DicomProblemInfo } from './dicom-problem';
import { type FrameGeometry, type Vec3, dot, sameOrientation, sliceNormal } from './geometry';

export interface SeriesSlice {
  instance: DicomInstance;
  sopInstanceUid: string;
  /** 0-based index into the instance's frames. */
  frameIndex: number;
  /** 1-based DICOM frame number (what ReferencedFrameNumber points at). */
  frameNumber: number;
  geometry?: FrameGeometry;
  /** Position along the slice normal, mm (0 for a lone slice without geometry). */
  location: number;
}

export interface SliceStack {
  seriesInstanceUid: string;
  studyInstanceUid: string;
  frameOfReferenceUid?: string;
  modality: string;
  rows: number;
  columns: number;
  /** Unit normal of the stack (row × column direction), when the frames have geometry. */
  normal?: Vec3;
  /** Ascending along `normal`. */
  slices: SeriesSlice[];
  /** Patient/study identity (from the first instance): stays on site. */
  identity: DicomIdentity;
}

export interface AssembledSeries {
  series: SliceStack[];
  problems: DicomProblemInfo[];
}

/** Two frames closer than this along the normal are "at the same position" (DS rounding is ~1e-6 mm). */
const SAME_POSITION_MM = 1e-3;

/** Groups by SeriesInstanceUID and orders each series' frames by geometry. */
export function assembleSeries(instances: DicomInstance[]): AssembledSeries {
  const groups = new Map<string, DicomInstance[]>();
  for (const instance of instances) {
    const group = groups.get(instance.seriesInstanceUid) ?? [];
    // The same instance twice (a copy in two folders) is one instance, not a duplicate slice.
    if (!group.some((other) => other.sopInstanceUid === instance.sopInstanceUid)) group.push(instance);
    groups.set(instance.seriesInstanceUid, group);
  }
  const result: AssembledSeries = { series: [], problems: [] };
  for (const [uid, group] of groups) {
    const outcome = assembleOne(uid, group);
    if (typeof outcome === 'string') {
      result.problems.push({
        file: group[0].source,
        code: 'inconsistent-geometry',
        message: `series ${uid} (${group.length} file(s), e.g. ${group[0].source}): ${outcome}; the series is not used`,
      });
    } else {
      result.series.push(outcome);
    }
  }
  return result;
}

/** The ordered series, or the reason it is not one stack. */
function assembleOne(uid: string, group: DicomInstance[]): SliceStack | string {
  const first = group[0];
  const sizes = new Set(group.map((i) => `${i.rows}×${i.columns}`));
  if (sizes.size > 1) return `frames have different sizes (${[...sizes].join(', ')})`;
  const frames = group.flatMap((instance) =>
    instance.frames.map((frame, frameIndex) => ({ instance, frameIndex, geometry: frame.geometry })),
  );
  const located = frames.filter((f) => f.geometry);
  const base: Omit<SliceStack, 'slices' | 'normal'> = {
    seriesInstanceUid: uid,
    studyInstanceUid: first.studyInstanceUid,
    frameOfReferenceUid: first.frameOfReferenceUid,
    modality: first.modality,
    rows: first.rows,
    columns: first.columns,
    identity: first.identity,
  };
  if (located.length < frames.length) {
    if (frames.length === 1) return { ...base, slices: [toSlice(frames[0], 0)] };
    return `${frames.length - located.length} of ${frames.length} frames have no ImagePositionPatient/ImageOrientationPatient`;
  }
  const reference = located[0].geometry as FrameGeometry;
  const odd = located.find((f) => !sameOrientation(reference, f.geometry as FrameGeometry));
  if (odd) {
    return `mixed orientations (${odd.instance.source} frame ${odd.frameIndex + 1} differs from ${located[0].instance.source})`;
  }
  const normal = sliceNormal(reference);
  const slices = located
    .map((f) => toSlice(f, dot((f.geometry as FrameGeometry).position, normal)))
    .sort((a, b) => a.location - b.location);
  for (let i = 1; i < slices.length; i++) {
    if (slices[i].location - slices[i - 1].location < SAME_POSITION_MM) {
      const [a, b] = [slices[i - 1], slices[i]];
      return (
        `two frames at the same position ${a.location.toFixed(3)} mm along the normal ` +
        `(${a.instance.source} frame ${a.frameNumber} and ${b.instance.source} frame ${b.frameNumber})`
      );
    }
  }
  return { ...base, normal, slices };
}

function toSlice(
  f: { instance: DicomInstance; frameIndex: number; geometry?: FrameGeometry },
  location: number,
) {
  return {
    instance: f.instance,
    sopInstanceUid: f.instance.sopInstanceUid,
    frameIndex: f.frameIndex,
    frameNumber: f.frameIndex + 1,
    geometry: f.geometry,
    location,
  };
}
