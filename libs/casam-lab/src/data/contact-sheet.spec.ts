import { describe, expect, it } from 'vitest';
import { OUTLINE_COLOURS, contactSheet } from './contact-sheet';

describe('contactSheet', () => {
  it('lays out thumbnails in a grid with class-coloured outlines', () => {
    const w = 40;
    const h = 20;
    const image = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(100) };
    const mask = new Uint8Array(w * h);
    for (let y = 5; y < 15; y++) for (let x = 10; x < 30; x++) mask[y * w + x] = 1;
    const sheet = contactSheet(
      [
        { image, masks: [{ classIndex: 1, data: mask }] },
        { image, masks: [] },
        { image, masks: [] },
      ],
      { columns: 2, thumb: 20, gap: 1 },
    );
    expect([sheet.width, sheet.height]).toEqual([2 * 20 + 3, 2 * 20 + 3]);
    const px = (x: number, y: number) =>
      Array.from(sheet.data.subarray((y * sheet.width + x) * 3, (y * sheet.width + x) * 3 + 3));
    const colours = new Set<string>();
    for (let y = 0; y < sheet.height; y++)
      for (let x = 0; x < sheet.width; x++) colours.add(px(x, y).join(','));
    expect(colours.has(OUTLINE_COLOURS[1].join(','))).toBe(true);
    expect(colours.has(OUTLINE_COLOURS[0].join(','))).toBe(false);
    // Thumbnails keep the aspect ratio (40×20 → 20×10) and the image grey.
    expect(px(1 + 2, 1 + 1)).toEqual([100, 100, 100]);
    expect(px(1 + 2, 1 + 15)).toEqual([32, 32, 32]);
  });
});
