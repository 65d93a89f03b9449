import { BASE_MODEL_PRESETS } from '@casam/protocol';
import { describe, expect, it } from 'vitest';
import { SAM_PRESETS } from '../sam/config';

describe("protocol's base-model presets", () => {
  it('name exactly the SAM presets, with their neck width as embedding channels', () => {
    expect(Object.keys(BASE_MODEL_PRESETS).sort()).toEqual(Object.keys(SAM_PRESETS).sort());
    for (const [name, cfg] of Object.entries(SAM_PRESETS))
      expect(BASE_MODEL_PRESETS[name as keyof typeof BASE_MODEL_PRESETS].embeddingChannels, name).toBe(
        cfg.outChans,
      );
  });
});
