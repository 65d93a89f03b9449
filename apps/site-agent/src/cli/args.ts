import { UserError } from './errors';

/** Parses "x0,y0,x1,y1". */
export function parseBox(s: string): [number, number, number, number] {
  const parts = s.split(',').map((v) => Number(v.trim()));
  if (parts.length !== 4 || !parts.every(Number.isFinite))
    throw new UserError(`--box expects x0,y0,x1,y1 (four numbers), got "${s}"`);
  return parts as [number, number, number, number];
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
