/** A grid of thumbnails with mask outlines, so a person can see what a dataset holds at a glance. */
import { RgbImage } from '@casam/casam-core';
import { maskOutline } from './draw';

export interface ContactSheetItem {
  image: RgbImage;
  /** Masks in class order; the index picks the outline colour. */
  masks: readonly { classIndex: number; data: Uint8Array }[];
}

export interface ContactSheetOptions {
  columns?: number;
  /** Thumbnail edge in px (images are fitted, aspect kept). */
  thumb?: number;
  gap?: number;
}

/** Outline colours by class index: distinct on grey, pink and red backgrounds. */
export const OUTLINE_COLOURS: readonly (readonly [number, number, number])[] = [
  [0, 255, 0],
  [255, 255, 0],
  [0, 200, 255],
  [255, 0, 255],
  [255, 128, 0],
  [255, 255, 255],
];

export function contactSheet(items: readonly ContactSheetItem[], opts: ContactSheetOptions = {}): RgbImage {
  const columns = Math.max(1, opts.columns ?? 4);
  const thumb = Math.max(8, opts.thumb ?? 128);
  const gap = Math.max(0, opts.gap ?? 2);
  const rows = Math.max(1, Math.ceil(items.length / columns));
  const width = columns * thumb + (columns + 1) * gap;
  const height = rows * thumb + (rows + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(32);
  items.forEach((item, n) => {
    const ox = gap + (n % columns) * (thumb + gap);
    const oy = gap + Math.floor(n / columns) * (thumb + gap);
    const { image } = item;
    const k = Math.max(image.width, image.height) / thumb;
    const tw = Math.max(1, Math.round(image.width / k));
    const th = Math.max(1, Math.round(image.height / k));
    // Area average: a thumbnail of a noisy image must not alias into a different texture.
    for (let ty = 0; ty < th; ty++) {
      const y0 = Math.floor(ty * k);
      const y1 = Math.max(y0 + 1, Math.min(image.height, Math.floor((ty + 1) * k)));
      for (let tx = 0; tx < tw; tx++) {
        const x0 = Math.floor(tx * k);
        const x1 = Math.max(x0 + 1, Math.min(image.width, Math.floor((tx + 1) * k)));
        let r = 0;
        let g = 0;
        let b = 0;
        for (let y = y0; y < y1; y++)
          for (let x = x0; x < x1; x++) {
            const i = (y * image.width + x) * 3;
            r += image.data[i];
            g += image.data[i + 1];
            b += image.data[i + 2];
          }
        const c = (x1 - x0) * (y1 - y0);
        const o = ((oy + ty) * width + ox + tx) * 3;
        data[o] = Math.round(r / c);
        data[o + 1] = Math.round(g / c);
        data[o + 2] = Math.round(b / c);
      }
    }
    for (const m of item.masks) {
      const small = new Uint8Array(tw * th);
      for (let ty = 0; ty < th; ty++)
        for (let tx = 0; tx < tw; tx++) {
          const sx = Math.min(image.width - 1, Math.floor((tx + 0.5) * k));
          const sy = Math.min(image.height - 1, Math.floor((ty + 0.5) * k));
          small[ty * tw + tx] = m.data[sy * image.width + sx] ? 1 : 0;
        }
      const edge = maskOutline(small, { width: tw, height: th });
      const colour = OUTLINE_COLOURS[m.classIndex % OUTLINE_COLOURS.length];
      for (let ty = 0; ty < th; ty++)
        for (let tx = 0; tx < tw; tx++)
          if (edge[ty * tw + tx]) {
            const o = ((oy + ty) * width + ox + tx) * 3;
            data[o] = colour[0];
            data[o + 1] = colour[1];
            data[o + 2] = colour[2];
          }
    }
  });
  return { width, height, data };
}
