// RTSTRUCT → masks on a series' frames. Contours are CLOSED_PLANAR polygons in patient mm; each is mapped
// into the pixel grid of the image it sits on (ContourImageSequence reference, else the slice whose plane
// holds it) and all of one ROI's contours on a slice are filled together, even-odd, so inner contours are
// holes. Names come from StructureSetROISequence. POINT and OPEN_PLANAR contours are not areas and are skipped.
import type { SliceStack } from '../read/assemble-series';
import { type Dataset, item, num, nums, seq, str } from '../read/dataset-fields';
import { DicomProblem, type DicomProblemInfo } from '../read/dicom-problem';
import { type FrameGeometry, type Vec3, patientToPixel } from '../read/geometry';
import type { ParsedDicom } from '../read/parse-part10';
import { RT_STRUCTURE_SET_STORAGE, sopClassName } from '../read/sop-classes';
import { MaskCollector, type MaskSet, SliceIndex } from './mask-set';
import { type PixelPoint, fillPolygons } from './polygon-fill';

/** Reads the structure set's ROIs as masks on `series`; throws DicomProblem if it is not an RTSTRUCT. */
export function readRtstructMasks(rt: ParsedDicom, series: SliceStack): MaskSet {
  const { dataset: ds, source } = rt;
  if (rt.sopClassUid !== RT_STRUCTURE_SET_STORAGE) {
    throw new DicomProblem(
      'unsupported-sop-class',
      source,
      `${sopClassName(rt.sopClassUid)} is not an RTSTRUCT`,
    );
  }
  const roiNames = new Map(
    seq(ds, 'StructureSetROISequence').map((r) => [num(r, 'ROINumber'), str(r, 'ROIName')] as const),
  );
  const roiContours = seq(ds, 'ROIContourSequence')
    .map((r) => ({ number: num(r, 'ReferencedROINumber') ?? 0, contours: seq(r, 'ContourSequence') }))
    .sort((a, b) => a.number - b.number);
  const nameOf = (n: number) => roiNames.get(n) ?? `ROI ${n}`;
  const classNames = roiContours.map((r) => nameOf(r.number));
  const slices = new SliceIndex(series);
  const unknown = new Map<string, number>();
  // ROI name → slice → polygons, so a ROI's contours on one slice are filled together.
  const polygons = new Map<string, Map<number, PixelPoint[][]>>();
  for (const roi of roiContours) {
    for (const contour of roi.contours) {
      if ((str(contour, 'ContourGeometricType') ?? 'CLOSED_PLANAR') !== 'CLOSED_PLANAR') continue;
      const points = contourPoints(contour);
      if (points.length < 3) continue;
      const target = locate(contour, points, slices);
      if (typeof target === 'string') {
        unknown.set(target, (unknown.get(target) ?? 0) + 1);
        continue;
      }
      const geometry = series.slices[target].geometry as FrameGeometry;
      const perSlice = polygons.get(nameOf(roi.number)) ?? new Map<number, PixelPoint[][]>();
      perSlice.set(target, [...(perSlice.get(target) ?? []), points.map((p) => patientToPixel(geometry, p))]);
      polygons.set(nameOf(roi.number), perSlice);
    }
  }
  const collector = new MaskCollector(series, classNames);
  for (const [name, perSlice] of polygons) {
    for (const [sliceIndex, shapes] of perSlice) {
      collector.add(sliceIndex, name, fillPolygons(shapes, series.rows, series.columns));
    }
  }
  const problems: DicomProblemInfo[] = [...unknown].map(([why, count]) => ({
    file: source,
    code: 'unknown-reference',
    message: `${source}: ${count} contour(s) not used: ${why}`,
  }));
  return collector.build(source, 'rtstruct', problems);
}

function contourPoints(contour: Dataset): Vec3[] {
  const data = nums(contour, 'ContourData') ?? [];
  const points: Vec3[] = [];
  for (let i = 0; i + 2 < data.length; i += 3) points.push([data[i], data[i + 1], data[i + 2]]);
  return points;
}

/** The slice a contour lies on, or why none does. */
function locate(contour: Dataset, points: Vec3[], slices: SliceIndex): number | string {
  const image = item(contour, 'ContourImageSequence');
  const uid = str(image, 'ReferencedSOPInstanceUID');
  const series = slices.series.seriesInstanceUid;
  if (uid) {
    const hit = slices.byUid(uid, num(image, 'ReferencedFrameNumber') ?? 1);
    if (hit !== undefined && slices.series.slices[hit].geometry) return hit;
    return slices.hasInstance(uid)
      ? `referenced frame of ${uid} is not in series ${series} or has no geometry`
      : `references instance ${uid}, which is not in series ${series}`;
  }
  const centre = points.reduce<Vec3>((c, p) => [c[0] + p[0], c[1] + p[1], c[2] + p[2]], [0, 0, 0]);
  const hit = slices.byPosition(centre.map((v) => v / points.length) as Vec3);
  return hit ?? `a contour without image reference lies on no slice of series ${series}`;
}
