import { describe, expect, it } from 'vitest';
import { ADAPTER_VERSION, ADAPTER_VERSION_DECODER_LORA, agentReadsAdapterFormat } from '@casam/protocol';
import { AGENT_VERSION } from './version';

describe('AGENT_VERSION', () => {
  it('is at least the first version the coordinator expects to read every adapter format this agent reads', () => {
    for (const format of [ADAPTER_VERSION, ADAPTER_VERSION_DECODER_LORA])
      expect(agentReadsAdapterFormat(AGENT_VERSION, format)).toBe(true);
  });
});
