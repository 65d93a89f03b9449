import { describe, expect, it } from 'vitest';
import { WINDOW_PRESETS, percentileWindow, resolveWindow, toGray8 } from './voi-window';

describe('toGray8 (linear VOI LUT, PS3.3 C.11.2.1.2.1)', () => {
  it('matches golden numbers for the abdomen window W400/L40', () => {
    const hu = Float32Array.from([-1000, -160, -159.5, 40, 100, 238.5, 239, 239.5, 3000]);
    // low = 39.5 − 199.5 = −160 (→0, inclusive), high = 239 (→255 strictly above); 40 → (0.5/399 + 0.5)·255.
    expect(Array.from(toGray8(hu, { center: 40, width: 400 }))).toEqual([
      0, 0, 0, 128, 166, 255, 255, 255, 255,
    ]);
  });

  it('inverts for MONOCHROME1 and treats width 1 as a threshold at c − 0.5', () => {
    expect(
      Array.from(toGray8(Float32Array.from([0, 100]), { center: 50, width: 100 }, { invert: true })),
    ).toEqual([255, 0]);
    expect(Array.from(toGray8(Float32Array.from([9.5, 9.6, 10]), { center: 10, width: 1 }))).toEqual([
      0, 255, 255,
    ]);
  });

  it('maps the lung preset: −600 is mid-grey, −1350 black, 150 white', () => {
    const gray = toGray8(Float32Array.from([-1351, -600, 151]), WINDOW_PRESETS['ct-lung']);
    expect(Array.from(gray)).toEqual([0, 128, 255]);
  });
});

describe('percentileWindow', () => {
  it('spans the 1st–99th percentile of all frames (outliers ignored)', () => {
    const values = Float32Array.from({ length: 101 }, (_, i) => i * 10); // 0..1000
    values[100] = 1e6; // one hot pixel must not stretch the window
    const w = percentileWindow([values.subarray(0, 50), values.subarray(50)]);
    expect(w).toEqual({ center: 500, width: 980 }); // p1 = 10, p99 = 990
  });

  it('never returns a zero width (flat image)', () => {
    expect(percentileWindow([new Float32Array(10).fill(7)])).toEqual({ center: 7, width: 1 });
  });
});

describe('resolveWindow', () => {
  const frames = () => [Float32Array.from({ length: 101 }, (_, i) => i)];
  it('auto uses the tags when present, percentiles otherwise; presets override tags', () => {
    const tags = { center: 40, width: 400 };
    expect(resolveWindow('auto', tags, frames)).toBe(tags);
    expect(resolveWindow('auto', undefined, frames)).toEqual({ center: 50, width: 98 });
    expect(resolveWindow('ct-bone', tags, frames)).toEqual({ center: 400, width: 1800 });
    expect(resolveWindow('mr-auto', tags, frames)).toEqual({ center: 50, width: 98 });
    expect(resolveWindow({ center: 1, width: 2 }, tags, frames)).toEqual({ center: 1, width: 2 });
  });
});
