import { describe, expect, it } from 'vitest';
import { adapterVerdict } from '@casam/protocol';
import { UserError } from '../cli/errors';
import { checkUploadVerdict } from './upload-adapter';

describe('upload: the adapter verdict', () => {
  it('refuses an adapter worse than frozen SAM unless --force, with exit 3 and the margin', () => {
    const worse = adapterVerdict({ iou: 0.55, frozen_iou: 0.6, boxfill_iou: 0.5 });
    let err: unknown;
    try {
      checkUploadVerdict('liver', worse, false);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/task liver: .*worse than frozen SAM by 0\.050 IoU.*--force/);
    expect(checkUploadVerdict('liver', worse, true)).toMatch(/worse than frozen SAM/);
  });

  it('lets other adapters through and says how they compare', () => {
    const below = adapterVerdict({ iou: 0.62, frozen_iou: 0.5, boxfill_iou: 0.65 });
    expect(checkUploadVerdict('liver', below, false)).toBe(
      'task liver: adapter below filling the box by 0.030 IoU (above frozen SAM by 0.120): not recommended',
    );
  });
});
