/** A tiny RGB raster canvas: rectangles, lines, text in the 5×7 bitmap font. Enough for report charts. */
import { type RgbImage } from '@casam/casam-core';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from './bitmap-font';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
export const GREY: Rgb = [150, 150, 150];
export const LIGHT_GREY: Rgb = [225, 225, 225];

export function createCanvas(width: number, height: number, background: Rgb = WHITE): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`canvas size must be positive integers, got ${width}×${height}`);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(background, 3 * i);
  return { width, height, data };
}

export function setPixel(c: RgbImage, x: number, y: number, color: Rgb): void {
  const xi = Math.round(x);
  const yi = Math.round(y);
  if (xi < 0 || yi < 0 || xi >= c.width || yi >= c.height) return;
  c.data.set(color, 3 * (yi * c.width + xi));
}

export function fillRect(c: RgbImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(c.width, Math.round(x + w));
  const y1 = Math.min(c.height, Math.round(y + h));
  for (let yy = y0; yy < y1; yy++)
    for (let xx = x0; xx < x1; xx++) c.data.set(color, 3 * (yy * c.width + xx));
}

export function strokeRect(c: RgbImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  fillRect(c, x, y, w, 1, color);
  fillRect(c, x, y + h - 1, w, 1, color);
  fillRect(c, x, y, 1, h, color);
  fillRect(c, x + w - 1, y, 1, h, color);
}

/** A line `thickness` pixels wide; `dash` [on, off] in pixels along the line. */
export function drawLine(
  c: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  color: Rgb,
  thickness = 1,
  dash?: [number, number],
): void {
  const len = Math.hypot(x1 - x0, y1 - y0);
  const steps = Math.max(1, Math.ceil(len * 2));
  const r = (thickness - 1) / 2;
  for (let i = 0; i <= steps; i++) {
    const s = i / steps;
    if (dash && (s * len) % (dash[0] + dash[1]) >= dash[0]) continue;
    const x = x0 + (x1 - x0) * s;
    const y = y0 + (y1 - y0) * s;
    if (r <= 0) setPixel(c, x, y, color);
    else fillRect(c, x - r, y - r, thickness, thickness, color);
  }
}

export function fillCircle(c: RgbImage, cx: number, cy: number, radius: number, color: Rgb): void {
  for (let y = Math.floor(cy - radius); y <= Math.ceil(cy + radius); y++)
    for (let x = Math.floor(cx - radius); x <= Math.ceil(cx + radius); x++)
      if ((x - cx) ** 2 + (y - cy) ** 2 <= radius * radius) setPixel(c, x, y, color);
}

export type TextAlign = 'left' | 'center' | 'right';

/** Draws `text` with its top edge at `y`; `x` is the left edge, centre or right edge per `align`. */
export function drawText(
  c: RgbImage,
  x: number,
  y: number,
  text: string,
  color: Rgb = BLACK,
  scale = 1,
  align: TextAlign = 'left',
): void {
  const w = textWidth(text, scale);
  let left = Math.round(align === 'left' ? x : align === 'center' ? x - w / 2 : x - w);
  const top = Math.round(y);
  for (const ch of text) {
    const g = glyph(ch);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++)
      for (let gx = 0; gx < GLYPH_WIDTH; gx++)
        if (g[gy * GLYPH_WIDTH + gx]) fillRect(c, left + gx * scale, top + gy * scale, scale, scale, color);
    left += GLYPH_ADVANCE * scale;
  }
}

/** Text height in pixels at `scale`. */
export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}
