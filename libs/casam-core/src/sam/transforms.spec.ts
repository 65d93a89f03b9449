import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import {
  ImageShapeError,
  ResizeLongestSide,
  imageShapeProblem,
  pilCoeffs,
  postprocessMasks,
  postprocessMasksTf,
  prepareImage,
  preprocess,
  resizeU8Pil,
  upscaleMasks,
} from './transforms';
import { HostTensor, toFloat32 } from '../tensor/host-tensor';
import { expectClose, fixtureTensor, maxAbsDiff } from '../testing/fixtures';

const MINI = 'sam-mini/sam-mini-golden.safetensors';
const golden = (name: string): HostTensor => fixtureTensor(MINI, name);
const f32 = (h: HostTensor): { shape: number[]; data: Float32Array } => ({
  shape: h.shape,
  data: toFloat32(h),
});
const cfg = getPreset('sam-mini');
const INPUT: [number, number] = [213, 256];
const ORIGINAL: [number, number] = [200, 240];

const report: string[] = [];
afterAll(() => console.log(`transforms:\n${report.join('\n')}`));

describe('ResizeLongestSide', () => {
  it('getPreprocessShape uses int(x + 0.5)', () => {
    expect(ResizeLongestSide.getPreprocessShape(200, 240, 256)).toEqual(INPUT);
    expect(ResizeLongestSide.getPreprocessShape(256, 256, 256)).toEqual([256, 256]);
    expect(ResizeLongestSide.getPreprocessShape(480, 640, 1024)).toEqual([768, 1024]);
    // 1024·(333/1000) = 340.992 → 341; 1024·(1/3) = 341.33 → 341; 1024·(3/8)·… halves round up.
    expect(ResizeLongestSide.getPreprocessShape(333, 1000, 1024)).toEqual([341, 1024]);
    expect(ResizeLongestSide.getPreprocessShape(2048, 1, 1024)).toEqual([1024, 1]);
    expect(ResizeLongestSide.getPreprocessShape(8, 3, 4)).toEqual([4, 2]); // 1.5 → 2
  });

  it('applyCoords / applyBoxes match the fixture (per-axis scales)', () => {
    const t = new ResizeLongestSide(256);
    const pts = toFloat32(golden('resize.points.orig_coords'));
    const coords = t.applyCoords(
      [
        [pts[0], pts[1]],
        [pts[2], pts[3]],
      ],
      ORIGINAL,
    );
    const gp = toFloat32(golden('resize.points.point_coords'));
    expect(coords.flat().map(Math.fround)).toEqual(Array.from(gp));
    expect(coords[1][1]).toBe(160 * (213 / 200)); // float64 like numpy: 170.39999999999998
    const b = toFloat32(golden('resize.box.orig_box'));
    const boxes = t.applyBoxes([[b[0], b[1], b[2], b[3]]], ORIGINAL);
    expect(boxes[0].map(Math.fround)).toEqual(Array.from(toFloat32(golden('resize.box.boxes'))));
    expect(Array.from(t.applyCoordsArray(new Float32Array([240, 200]), ORIGINAL))).toEqual([256, 213]);
  });

  it('applyImage reproduces the PIL bilinear resize (resize.transformed_u8)', () => {
    const src = golden('resize.image_u8');
    const out = new ResizeLongestSide(256).applyImage(src.data as Uint8Array, 200, 240);
    expect([out.height, out.width, out.channels]).toEqual([213, 256, 3]);
    const ref = golden('resize.transformed_u8').data as Uint8Array;
    expect(out.data.length).toBe(ref.length);
    let differing = 0;
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(out.data[i] - ref[i]);
      if (d) differing++;
      maxDiff = Math.max(maxDiff, d);
    }
    report.push(
      `  applyImage vs resize.transformed_u8: ${differing} of ${ref.length} values differ, max ${maxDiff}`,
    );
    expect(maxDiff).toBeLessThanOrEqual(1);
    // The fixed-point PIL emulation is exact on this image.
    expect(differing).toBe(0);
  });

  it('resizeU8Pil: identity, antialiased down-scaling of a constant image, clipping', () => {
    const img = new Uint8Array(10 * 12 * 3).map((_, i) => (i * 37) % 256);
    expect(resizeU8Pil(img, 10, 12, 3, 10, 12)).toEqual(img);
    const flat = new Uint8Array(40 * 30).fill(77);
    expect(resizeU8Pil(flat, 40, 30, 1, 7, 5).every((v) => v === 77)).toBe(true);
    // 2× down-scaling of a 0/255 column stripe: the widened triangle filter averages neighbouring columns.
    const stripes = new Uint8Array(2 * 8).map((_, i) => (i % 2 ? 255 : 0));
    const down = resizeU8Pil(stripes, 2, 8, 1, 2, 4);
    expect(Array.from(down).every((v) => v > 100 && v < 160)).toBe(true);
  });
});

/**
 * The PIL resample as a plain per-value loop (each output value sums its taps straight from the source, then
 * PIL's clip8 by division), the version resizeU8Pil's row and column loops replaced: they must give the same bytes.
 */
function resizeReference(
  src: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outH: number,
  outW: number,
): Uint8Array {
  const bits = 22;
  const clip = (acc: number) => Math.min(255, Math.max(0, Math.floor(acc / 2 ** bits)));
  let cur = src;
  let curW = width;
  if (outW !== width) {
    const { ksize, bounds, kk } = pilCoeffs(width, outW);
    const out = new Uint8Array(height * outW * channels);
    for (let y = 0; y < height; y++)
      for (let xx = 0; xx < outW; xx++)
        for (let ch = 0; ch < channels; ch++) {
          let acc = 2 ** (bits - 1);
          for (let x = 0; x < bounds[xx * 2 + 1]; x++)
            acc += cur[(y * width + x + bounds[xx * 2]) * channels + ch] * kk[xx * ksize + x];
          out[(y * outW + xx) * channels + ch] = clip(acc);
        }
    cur = out;
    curW = outW;
  }
  if (outH !== height) {
    const { ksize, bounds, kk } = pilCoeffs(height, outH);
    const rowLen = curW * channels;
    const out = new Uint8Array(outH * rowLen);
    for (let yy = 0; yy < outH; yy++)
      for (let i = 0; i < rowLen; i++) {
        let acc = 2 ** (bits - 1);
        for (let y = 0; y < bounds[yy * 2 + 1]; y++)
          acc += cur[(y + bounds[yy * 2]) * rowLen + i] * kk[yy * ksize + y];
        out[yy * rowLen + i] = clip(acc);
      }
    cur = out;
  }
  return cur;
}

describe('resizeU8Pil against the per-value PIL loop', () => {
  it('gives the same bytes for noise images up and down, 1, 3 and 4 channels, odd sizes and 1-pixel axes', () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const cases: [number, number, number, number, number][] = [
      [512, 512, 3, 256, 256],
      [300, 517, 3, 149, 256],
      [200, 240, 3, 213, 256],
      [97, 33, 1, 256, 87],
      [64, 80, 4, 51, 64],
      [1, 300, 3, 1, 256],
      [300, 1, 1, 256, 1],
      [1024, 700, 1, 256, 175],
    ];
    for (const [h, w, c, oh, ow] of cases) {
      // Noise with runs of 0 and 255, so clipping and the extremes are exercised.
      const img = Uint8Array.from({ length: h * w * c }, () => {
        const r = rand();
        return r < 20 ? 0 : r > 235 ? 255 : r;
      });
      const fast = resizeU8Pil(img, h, w, c, oh, ow);
      const ref = resizeReference(img, h, w, c, oh, ow);
      expect(fast.length, `${h}x${w}x${c} → ${oh}x${ow}`).toBe(ref.length);
      let differing = 0;
      for (let i = 0; i < ref.length; i++) if (fast[i] !== ref[i]) differing++;
      expect(differing, `${h}x${w}x${c} → ${oh}x${ow}: values differing`).toBe(0);
    }
  });
});

describe('prepareImage on grey images', () => {
  it('resizes a grey image as one plane and gives the same tensor as the three-channel path', () => {
    let seed = 11;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const tiny = getPreset('casam-tiny');
    for (const [h, w] of [
      [512, 512],
      [300, 517],
      [200, 240],
      [256, 256],
      [2, 700],
    ]) {
      const grey = Uint8Array.from({ length: h * w }, rand);
      const rgb = new Uint8Array(h * w * 3);
      for (let i = 0; i < h * w; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
      const got = prepareImage(rgb, h, w, tiny);
      const resized = new ResizeLongestSide(tiny.imgSize).applyImage(rgb, h, w, 3);
      const want = preprocess(resized.data, resized.height, resized.width, tiny);
      expect(got.inputSize).toEqual([resized.height, resized.width]);
      expect(got.originalSize).toEqual([h, w]);
      expect(maxAbsDiff(f32(got.preprocessed).data, f32(want).data), `${h}x${w}`).toBe(0);
      // One pixel off grey (the last, so the whole image is scanned first): the colour path, same answer as before.
      rgb[rgb.length - 1] ^= 1;
      const colour = prepareImage(rgb, h, w, tiny);
      const r2 = new ResizeLongestSide(tiny.imgSize).applyImage(rgb, h, w, 3);
      expect(
        maxAbsDiff(f32(colour.preprocessed).data, f32(preprocess(r2.data, r2.height, r2.width, tiny)).data),
      ).toBe(0);
    }
  });

  it('refuses data of the wrong length, and an image whose short side would scale to 0 px', () => {
    expect(() => prepareImage(new Uint8Array(10), 2, 2, cfg)).toThrow(
      /expected 2x2x3 uint8 RGB, got 10 bytes/,
    );
    // 1×700 at 256 px: 0.37 px tall. 2 rows are enough (0.73 px, rounded to 1).
    expect(() => prepareImage(new Uint8Array(700 * 3), 1, 700, getPreset('casam-tiny'))).toThrow(
      /1×700 image is too elongated: .* 0×256 pixels \(the short side must be at least 2 px\)/,
    );
    expect(() => prepareImage(new Uint8Array(700 * 3), 1, 700, getPreset('casam-tiny'))).toThrow(
      ImageShapeError,
    );
    expect(imageShapeProblem(2, 700, 256)).toBeNull();
    expect(imageShapeProblem(700, 1, 256)).toMatch(/256×0/);
  });
});

describe('preprocess', () => {
  it('matches input.preprocessed (no padding) within 1e-6', () => {
    const img = golden('input.image_u8');
    const out = preprocess(img.data as Uint8Array, 256, 256, cfg);
    const d = expectClose(f32(out), golden('input.preprocessed'), 1e-6, 'input.preprocessed');
    report.push(`  input.preprocessed: ${d.toExponential(2)}`);
  });

  it('the per-channel lookup table gives, bit for bit, (x − mean) then / std in float32 for every byte value', () => {
    // 256 columns × 3 rows (the last row and every column past the width stay zero padding): each channel sees
    // every value 0…255 once. The reference is the per-pixel arithmetic the table replaced.
    const [h, w] = [3, 256];
    const img = Uint8Array.from({ length: h * w * 3 }, (_, i) => (Math.floor(i / 3) + 85 * (i % 3)) & 255);
    const out = toFloat32(preprocess(img, h, w, cfg));
    const s = cfg.imgSize;
    const mean = Float32Array.from(cfg.pixelMean);
    const std = Float32Array.from(cfg.pixelStd);
    const ref = new Float32Array(3 * s * s);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          ref[c * s * s + y * s + x] = Math.fround(img[(y * w + x) * 3 + c] - mean[c]) / std[c];
    expect(Buffer.from(out.buffer, out.byteOffset, out.byteLength).equals(Buffer.from(ref.buffer))).toBe(
      true,
    );
  });

  it('matches resize.preprocessed (bottom rows zero-padded) within 1e-6', () => {
    const img = golden('resize.transformed_u8');
    const out = preprocess(img.data as Uint8Array, 213, 256, cfg);
    const d = expectClose(f32(out), golden('resize.preprocessed'), 1e-6, 'resize.preprocessed');
    report.push(`  resize.preprocessed: ${d.toExponential(2)}`);
    const whole = prepareImage(golden('resize.image_u8').data as Uint8Array, 200, 240, cfg);
    expect(whole.inputSize).toEqual(INPUT);
    expect(whole.originalSize).toEqual(ORIGINAL);
    const d2 = expectClose(f32(whole.preprocessed), golden('resize.preprocessed'), 1e-6, 'prepareImage');
    report.push(`  prepareImage(resize.image_u8) vs resize.preprocessed: ${d2.toExponential(2)}`);
    expect(() => preprocess(new Uint8Array(300 * 2 * 3), 300, 2, cfg)).toThrow(/exceeds/);
  });
});

const POST_CASES = [
  ['resize.points.multimask', [1, 3, 200, 240]],
  ['resize.box.single', [1, 1, 200, 240]],
] as const;

describe('postprocessMasks (TypeScript)', () => {
  it.each(POST_CASES)('%s.masks', (prefix, shape) => {
    const out = postprocessMasks(golden(`${prefix}.low_res_masks`), INPUT, ORIGINAL, 256);
    expect(out.shape).toEqual(shape);
    const d = expectClose(f32(out), golden(`${prefix}.masks`), 1e-5, `${prefix}.masks`);
    report.push(`  ts ${prefix}.masks: ${d.toExponential(2)}`);
  });

  it('the first interpolation matches resize.box.single.masks_256', () => {
    const out = upscaleMasks(golden('resize.box.single.low_res_masks'), 256);
    const d = expectClose(f32(out), golden('resize.box.single.masks_256'), 1e-5, 'masks_256');
    report.push(`  ts resize.box.single.masks_256: ${d.toExponential(2)}`);
    expect(d).toBe(0); // bit-exact: same float32 weights, double accumulation, one rounding
  });

  it('square image without resize: the second interpolation is the identity', () => {
    const low = golden('decoder.points.single.low_res_masks');
    const a = postprocessMasks(low, [256, 256], [256, 256], 256);
    const b = upscaleMasks(low, 256);
    expect(maxAbsDiff(a.data as Float32Array, b.data as Float32Array)).toBe(0);
  });

  it('a crop kept at its size (no second resize) is the top-left window of the first interpolation', () => {
    const low = golden('decoder.points.single.low_res_masks');
    const a = toFloat32(postprocessMasks(low, [200, 256], [200, 256], 256));
    const b = toFloat32(upscaleMasks(low, 256));
    expect(a.length).toBe(200 * 256);
    expect(maxAbsDiff(a, b.subarray(0, 200 * 256))).toBe(0);
    const c = toFloat32(postprocessMasks(low, [256, 200], [256, 200], 256));
    const window = new Float32Array(256 * 200);
    for (let y = 0; y < 256; y++) window.set(b.subarray(y * 256, y * 256 + 200), y * 200);
    expect(maxAbsDiff(c, window)).toBe(0);
  });
});

describe.each(['cpu', 'wasm'])('postprocessMasksTf on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
  });

  it.each(POST_CASES)('%s.masks equals the TypeScript version and the golden', (prefix) => {
    const low = golden(`${prefix}.low_res_masks`);
    const x = tf.tensor4d(toFloat32(low), low.shape as [number, number, number, number]);
    const before = tf.memory().numTensors;
    const y = postprocessMasksTf(x, INPUT, ORIGINAL, 256);
    const data = y.dataSync() as Float32Array;
    const ts = postprocessMasks(low, INPUT, ORIGINAL, 256);
    const dTs = maxAbsDiff(data, ts.data as Float32Array);
    const dG = expectClose(
      { shape: y.shape, data },
      golden(`${prefix}.masks`),
      1e-5,
      `${backend} ${prefix}.masks`,
    );
    report.push(
      `  tf ${backend} ${prefix}.masks: vs golden ${dG.toExponential(2)}, vs TS ${dTs.toExponential(2)}`,
    );
    expect(dTs).toBeLessThanOrEqual(1e-6);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('has the gradient of the same linear map (checked against the TypeScript version)', () => {
    const low = golden('resize.box.single.low_res_masks');
    const x = tf.tensor4d(toFloat32(low), low.shape as [number, number, number, number]);
    const g = tf.grad((m: tf.Tensor) => tf.sum(postprocessMasksTf(m as tf.Tensor4D, INPUT, ORIGINAL, 256)))(
      x,
    );
    expect(g.shape).toEqual([1, 1, 64, 64]);
    const v = g.dataSync();
    // The map is linear: d Σout / d x[i] = Σout(x + e_i) − Σout(x), summed in float64.
    const sum = (h: HostTensor): number => (h.data as Float32Array).reduce((a, b) => a + b, 0);
    const base = sum(postprocessMasks(low, INPUT, ORIGINAL, 256));
    for (const i of [0, 63, 64 * 20 + 17, 64 * 63 + 5, 64 * 64 - 1]) {
      const d = Float32Array.from(toFloat32(low));
      d[i] += 1;
      const fd =
        sum(postprocessMasks({ dtype: 'float32', shape: low.shape, data: d }, INPUT, ORIGINAL, 256)) - base;
      expect(Math.abs(v[i] - fd), `entry ${i}: ${v[i]} vs ${fd}`).toBeLessThanOrEqual(
        1e-3 * Math.abs(fd) + 1e-3,
      );
    }
    tf.dispose([x, g]);
  });
});
