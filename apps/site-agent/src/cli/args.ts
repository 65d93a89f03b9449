import { UserError } from './errors';

/**
 * Box prompts, everywhere in CA-SAM (training, validation, the demo, `segment`, `serve`): `x0,y0,x1,y1` are
 * INCLUSIVE pixel indices — (x0, y0) is the top-left pixel of the object, (x1, y1) its bottom-right pixel, as the
 * trainer's tight box of a mask (`maskBoundingBox`). A region one pixel wide has x0 = x1; the whole W×H image is
 * `0,0,W-1,H-1`.
 */
export type Box = [number, number, number, number];

/** Parses "x0,y0,x1,y1". */
export function parseBox(s: string): Box {
  const parts = s.split(',').map((v) => Number(v.trim()));
  if (parts.length !== 4 || !parts.every(Number.isFinite))
    throw new UserError(`--box expects x0,y0,x1,y1 (four numbers), got "${s}"`);
  return parts as Box;
}

/** Parses "x,y,label" (label 1 = foreground, 0 = background; default 1). */
export function parsePoint(s: string): { xy: [number, number]; label: number } {
  const parts = s.split(',').map((v) => v.trim());
  if (parts.length < 2 || parts.length > 3) throw new UserError(`--point expects x,y[,label], got "${s}"`);
  const [x, y] = [Number(parts[0]), Number(parts[1])];
  const label = parts.length === 3 ? Number(parts[2]) : 1;
  if (!Number.isFinite(x) || !Number.isFinite(y))
    throw new UserError(`--point coordinates must be numbers, got "${s}"`);
  if (label !== 0 && label !== 1) throw new UserError(`--point label must be 0 or 1, got "${parts[2]}"`);
  return { xy: [x, y], label };
}

/**
 * Why a box or point does not fit a width×height image under the inclusive-corner convention, or null when it
 * fits. Checked before the model runs, so a bad prompt costs no embedding.
 */
export function promptProblem(
  prompt: { box?: Box; points?: [number, number][] },
  width: number,
  height: number,
): string | null {
  const range = `x in 0..${width - 1}, y in 0..${height - 1}`;
  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    if (!(x0 <= x1 && y0 <= y1))
      return `box ${prompt.box.join(',')}: corners must satisfy x0 ≤ x1 and y0 ≤ y1 (inclusive pixel indices)`;
    if (x0 < 0 || y0 < 0 || x1 > width - 1 || y1 > height - 1)
      return `box ${prompt.box.join(',')} is outside the ${width}×${height} image: corners are inclusive pixel indices, ${range}`;
  }
  for (const [x, y] of prompt.points ?? [])
    if (x < 0 || y < 0 || x > width - 1 || y > height - 1)
      return `point (${x}, ${y}) is outside the ${width}×${height} image: ${range}`;
  return null;
}
