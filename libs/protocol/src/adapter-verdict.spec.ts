import { describe, expect, it } from 'vitest';
import { adapterVerdict } from './adapter-verdict';

describe('adapterVerdict', () => {
  it('recommends an adapter above both box-fill and frozen SAM', () => {
    const v = adapterVerdict({ iou: 0.8, frozen_iou: 0.6, boxfill_iou: 0.7 });
    expect(v.kind).toBe('recommended');
    expect(v.overBoxFill).toBeCloseTo(0.1, 9);
    expect(v.text).toBe('above filling the box by 0.100 and frozen SAM by 0.200 IoU: recommended');
  });

  it('flags an adapter below filling the box, with the margin', () => {
    const v = adapterVerdict({ iou: 0.61, frozen_iou: 0.5, boxfill_iou: 0.67 });
    expect(v.kind).toBe('below-box-fill');
    expect(v.text).toMatch(
      /^below filling the box by 0\.060 IoU \(above frozen SAM by 0\.110\): not recommended$/,
    );
  });

  it('flags an adapter worse than frozen SAM first, even when it beats box-fill', () => {
    expect(adapterVerdict({ iou: 0.7, frozen_iou: 0.72, boxfill_iou: 0.5 }).kind).toBe('below-frozen');
  });

  it('says unknown when a metric is missing or not finite', () => {
    expect(adapterVerdict({ iou: 0.7, frozen_iou: 0.6 }).kind).toBe('unknown');
    expect(adapterVerdict({ iou: NaN, frozen_iou: 0.6, boxfill_iou: 0.5 }).kind).toBe('unknown');
  });
});
