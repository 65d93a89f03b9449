import { describe, expect, it } from 'vitest';
import { adapterKindText, compatibilityText } from './adapter-kind';

describe('adapterKindText', () => {
  it('names the Alignment Layer alone, or with the decoder delta in numbers', () => {
    expect(adapterKindText({ decoderLora: null })).toBe('Alignment Layer');
    expect(adapterKindText({ decoderLora: { rank: 4, alpha: 8, layers: 30 } })).toBe(
      'Alignment Layer + decoder LoRA (rank 4, 30 layers)',
    );
    expect(adapterKindText({ decoderLora: { rank: 1, alpha: 1, layers: 1 } })).toBe(
      'Alignment Layer + decoder LoRA (rank 1, 1 layer)',
    );
  });
});

describe('compatibilityText', () => {
  it('names the sites that cannot read the format, or nothing when all can', () => {
    expect(compatibilityText({})).toBeNull();
    expect(
      compatibilityText({
        compatibility: { formatVersion: 2, firstAgentVersion: '0.2.0', sitesUnableToRead: [] },
      }),
    ).toBeNull();
    expect(
      compatibilityText({
        compatibility: {
          formatVersion: 2,
          firstAgentVersion: '0.2.0',
          sitesUnableToRead: [
            { siteId: 'a', name: 'north', agentVersion: '0.1.0' },
            { siteId: 'b', name: 'south', agentVersion: null },
          ],
        },
      }),
    ).toBe(
      '2 sites run an agent that cannot read format 2 (needs ≥ 0.2.0): north (0.1.0), south (version unknown). ' +
        'Approving anyway is recorded in the audit log; those sites cannot use the next bundle until they upgrade.',
    );
  });
});
