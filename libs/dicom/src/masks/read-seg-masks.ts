// DICOM-SEG → masks on a series' frames. Each SEG frame is one segment on one source frame: the segment comes
// from SegmentIdentificationSequence, the source frame from DerivationImageSequence/SourceImageSequence
// (ReferencedSOPInstanceUID + ReferencedFrameNumber), or — for SEGs written without references — from the
// frame's PlanePositionSequence. BINARY pixel data is bit-packed across frame boundaries; FRACTIONAL is one
// byte per pixel, thresholded at half of MaximumFractionalValue.
import type { SliceStack } from '../read/assemble-series';
import { type Dataset, binaryParts, num, nums, seq, str } from '../read/dataset-fields';
import { DicomProblem, type DicomProblemInfo } from '../read/dicom-problem';
import { frameMacro, type Vec3 } from '../read/geometry';
import type { ParsedDicom } from '../read/parse-part10';
import { SEGMENTATION_STORAGE, sopClassName } from '../read/sop-classes';
import { MaskCollector, type MaskSet, SliceIndex } from './mask-set';

/** Reads the SEG's masks onto `series`; throws DicomProblem when the SEG as a whole cannot be used. */
export function readSegMasks(seg: ParsedDicom, series: SliceStack): MaskSet {
  const { dataset: ds, source } = seg;
  if (seg.sopClassUid !== SEGMENTATION_STORAGE) {
    throw new DicomProblem(
      'unsupported-sop-class',
      source,
      `${sopClassName(seg.sopClassUid)} is not a DICOM-SEG`,
    );
  }
  const rows = num(ds, 'Rows') ?? 0;
  const cols = num(ds, 'Columns') ?? 0;
  if (rows !== series.rows || cols !== series.columns) {
    throw new DicomProblem(
      'inconsistent-geometry',
      source,
      `SEG frames are ${rows}×${cols} but series ${series.seriesInstanceUid} is ${series.rows}×${series.columns}`,
    );
  }
  const segments = new Map(seq(ds, 'SegmentSequence').map((s) => [num(s, 'SegmentNumber') ?? 0, s] as const));
  const numbers = [...segments.keys()].sort((a, b) => a - b);
  const names = numbers.map((n) => str(segments.get(n), 'SegmentLabel') ?? `segment ${n}`);
  const frameCount = Math.max(1, num(ds, 'NumberOfFrames') ?? 1);
  const unpack = frameUnpacker(ds, source, rows * cols, frameCount);
  const slices = new SliceIndex(series);
  const collector = new MaskCollector(series, names);
  const unknown = new Map<string, number>();
  for (let f = 0; f < frameCount; f++) {
    const segmentNumber = num(frameMacro(ds, f, 'SegmentIdentificationSequence'), 'ReferencedSegmentNumber');
    const name = segmentNumber === undefined ? undefined : names[numbers.indexOf(segmentNumber)];
    const target = locate(ds, f, slices);
    if (name === undefined || typeof target === 'string') {
      const why =
        name === undefined
          ? `segment number ${segmentNumber ?? 'missing'} is not in SegmentSequence`
          : target;
      unknown.set(String(why), (unknown.get(String(why)) ?? 0) + 1);
      continue;
    }
    collector.add(target, name, unpack(f));
  }
  const problems: DicomProblemInfo[] = [...unknown].map(([why, count]) => ({
    file: source,
    code: 'unknown-reference',
    message: `${source}: ${count} SEG frame(s) not used: ${why}`,
  }));
  return collector.build(source, 'seg', problems);
}

/** The series slice a SEG frame belongs to, or why none does. */
function locate(ds: Dataset, f: number, slices: SliceIndex): number | string {
  const sources = seq(frameMacro(ds, f, 'DerivationImageSequence'), 'SourceImageSequence');
  for (const source of sources) {
    const uid = str(source, 'ReferencedSOPInstanceUID');
    if (!uid) continue;
    const hit = slices.byUid(uid, num(source, 'ReferencedFrameNumber') ?? 1);
    if (hit !== undefined) return hit;
  }
  const referenced = sources.map((s) => str(s, 'ReferencedSOPInstanceUID')).filter(Boolean);
  if (referenced.length > 0) {
    const known = referenced.some((uid) => slices.hasInstance(uid as string));
    return known
      ? `referenced frame of ${referenced.join(', ')} is not in series ${slices.series.seriesInstanceUid}`
      : `references instance ${referenced.join(', ')}, which is not in series ${slices.series.seriesInstanceUid}`;
  }
  const position = nums(frameMacro(ds, f, 'PlanePositionSequence'), 'ImagePositionPatient', 3);
  const hit = position ? slices.byPosition(position as Vec3) : undefined;
  return hit ?? 'no source image reference and no slice of the series at its PlanePositionSequence position';
}

/** Returns frame f's mask (0/1) from BINARY (bit-packed) or FRACTIONAL (byte) pixel data. */
function frameUnpacker(
  ds: Dataset,
  source: string,
  pixels: number,
  frames: number,
): (f: number) => Uint8Array {
  const parts = binaryParts(ds, 'PixelData');
  if (!parts) throw new DicomProblem('no-pixel-data', source, 'the SEG has no Pixel Data (7FE0,0010)');
  const data = parts.length === 1 ? parts[0] : Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  const fractional = str(ds, 'SegmentationType') === 'FRACTIONAL';
  const needed = fractional ? pixels * frames : Math.ceil((pixels * frames) / 8);
  if (data.byteLength < needed) {
    throw new DicomProblem(
      'no-pixel-data',
      source,
      `SEG pixel data is truncated: ${data.byteLength} of ${needed} bytes`,
    );
  }
  if (fractional) {
    const threshold = (num(ds, 'MaximumFractionalValue') ?? 255) / 2;
    return (f) =>
      Uint8Array.from(data.subarray(f * pixels, (f + 1) * pixels), (v) => (v > threshold ? 1 : 0));
  }
  return (f) => {
    const mask = new Uint8Array(pixels);
    // Frames are packed back to back without byte alignment (PS3.5 8.1.1): bit index = f·pixels + p.
    for (let p = 0, bit = f * pixels; p < pixels; p++, bit++) mask[p] = (data[bit >> 3] >> (bit & 7)) & 1;
    return mask;
  };
}
