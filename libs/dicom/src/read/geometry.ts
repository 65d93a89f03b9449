// Where each frame sits in patient space (mm), from classic single-frame tags or from the Enhanced
// multi-frame functional groups (a per-frame macro overrides the shared one). Ordering slices and mapping
// RTSTRUCT contours to pixels both need exactly this, so it is computed once per frame.
import { type Dataset, item, nums, seq } from './dataset-fields';

export type Vec3 = [number, number, number];

export interface FrameGeometry {
  /** ImagePositionPatient: centre of the first transmitted pixel, mm. */
  position: Vec3;
  /** Direction cosines of a row (increasing column index) and of a column (increasing row index). */
  rowDirection: Vec3;
  columnDirection: Vec3;
  /** PixelSpacing: [between rows (mm along columnDirection), between columns (mm along rowDirection)]. */
  pixelSpacing: [number, number];
}

/**
 * The functional-group macro `key` for frame `index` (0-based): per-frame first, then shared. Classic
 * single-frame files have no functional groups; their tags sit at the top level and are returned as such.
 */
export function frameMacro(ds: Dataset, index: number, key: string): Dataset | undefined {
  const frameGroup = seq(ds, 'PerFrameFunctionalGroupsSequence')[index];
  return item(frameGroup, key) ?? item(item(ds, 'SharedFunctionalGroupsSequence'), key);
}

/** Geometry of frame `index`, or undefined when the file does not say where it is. */
export function frameGeometry(ds: Dataset, index: number): FrameGeometry | undefined {
  const position =
    nums(frameMacro(ds, index, 'PlanePositionSequence'), 'ImagePositionPatient', 3) ??
    nums(ds, 'ImagePositionPatient', 3);
  const orientation =
    nums(frameMacro(ds, index, 'PlaneOrientationSequence'), 'ImageOrientationPatient', 6) ??
    nums(ds, 'ImageOrientationPatient', 6);
  const spacing =
    nums(frameMacro(ds, index, 'PixelMeasuresSequence'), 'PixelSpacing', 2) ?? nums(ds, 'PixelSpacing', 2);
  if (!position || !orientation) return undefined;
  return {
    position: position as Vec3,
    rowDirection: orientation.slice(0, 3) as Vec3,
    columnDirection: orientation.slice(3, 6) as Vec3,
    // Without PixelSpacing, 1 mm keeps the in-plane mapping defined (and is what viewers assume).
    pixelSpacing: (spacing ?? [1, 1]) as [number, number],
  };
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** The slice normal (row × column direction): the axis along which slices are ordered. */
export function sliceNormal(g: FrameGeometry): Vec3 {
  return cross(g.rowDirection, g.columnDirection);
}

/** True when two frames share orientation up to `tolerance` in each direction cosine. */
export function sameOrientation(a: FrameGeometry, b: FrameGeometry, tolerance = 1e-4): boolean {
  const da = [...a.rowDirection, ...a.columnDirection];
  const db = [...b.rowDirection, ...b.columnDirection];
  return da.every((v, i) => Math.abs(v - db[i]) <= tolerance);
}

/** Patient-space point (mm) → fractional pixel coordinates (column, row) in the frame's grid. */
export function patientToPixel(g: FrameGeometry, point: Vec3): { col: number; row: number } {
  const d: Vec3 = [point[0] - g.position[0], point[1] - g.position[1], point[2] - g.position[2]];
  return {
    col: dot(d, g.rowDirection) / g.pixelSpacing[1],
    row: dot(d, g.columnDirection) / g.pixelSpacing[0],
  };
}

/** Pixel (column, row) → patient-space point (mm): the inverse of patientToPixel, for writers and specs. */
export function pixelToPatient(g: FrameGeometry, col: number, row: number): Vec3 {
  const [sr, sc] = g.pixelSpacing;
  return [0, 1, 2].map(
    (k) => g.position[k] + col * sc * g.rowDirection[k] + row * sr * g.columnDirection[k],
  ) as Vec3;
}
