// Even-odd scanline fill of closed polygons in pixel coordinates (column, row; pixel centres on integers, as
// DICOM's ImagePositionPatient is the centre of the first pixel). A pixel is inside when its centre is.
// Even-odd over all of one ROI's contours on a slice makes an inner contour a hole, which is how RTSTRUCT
// writers encode rings. Hand-written because it is twenty lines and the npm fills rasterize for canvases.

export interface PixelPoint {
  col: number;
  row: number;
}

/** Fills `polygons` (each closed implicitly: last point connects to the first) into a rows×cols 0/1 mask. */
export function fillPolygons(polygons: PixelPoint[][], rows: number, cols: number): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  const edges = polygons.flatMap((points) =>
    points.map((p, i) => [p, points[(i + 1) % points.length]] as const),
  );
  for (let row = 0; row < rows; row++) {
    const crossings: number[] = [];
    for (const [a, b] of edges) {
      // Half-open in y so a vertex on the scanline is counted once, and horizontal edges never.
      if ((a.row <= row && row < b.row) || (b.row <= row && row < a.row)) {
        crossings.push(a.col + ((row - a.row) * (b.col - a.col)) / (b.row - a.row));
      }
    }
    crossings.sort((x, y) => x - y);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      const from = Math.max(0, Math.ceil(crossings[k]));
      const to = Math.min(cols - 1, Math.ceil(crossings[k + 1]) - 1);
      for (let col = from; col <= to; col++) mask[row * cols + col] = 1;
    }
  }
  return mask;
}
