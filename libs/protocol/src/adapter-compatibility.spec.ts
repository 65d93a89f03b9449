import { describe, expect, it } from 'vitest';
import {
  ADAPTER_FORMAT_FIRST_AGENT_VERSION,
  adapterCompatibility,
  agentReadsAdapterFormat,
  compareReleaseVersions,
} from './adapter-compatibility';

describe('adapter format compatibility', () => {
  it('knows the first reader of each format', () => {
    expect(ADAPTER_FORMAT_FIRST_AGENT_VERSION).toEqual({ 1: '0.1.0', 2: '0.2.0' });
  });

  it('compares release versions numerically and ignores prerelease tags', () => {
    expect(compareReleaseVersions('0.10.0', '0.2.0')).toBeGreaterThan(0);
    expect(compareReleaseVersions('0.2.0-rc.1', '0.2.0')).toBe(0);
    expect(compareReleaseVersions('1.0.0', '0.9.9')).toBeGreaterThan(0);
    expect(compareReleaseVersions('dev', '0.2.0')).toBeNull();
  });

  it('format 2 needs agent 0.2.0; unknown or unparseable versions cannot read it', () => {
    expect(agentReadsAdapterFormat('0.1.0', 1)).toBe(true);
    expect(agentReadsAdapterFormat('0.1.0', 2)).toBe(false);
    expect(agentReadsAdapterFormat('0.2.0', 2)).toBe(true);
    expect(agentReadsAdapterFormat('1.3.7', 2)).toBe(true);
    expect(agentReadsAdapterFormat(null, 2)).toBe(false);
    expect(agentReadsAdapterFormat('banana', 2)).toBe(false);
    expect(agentReadsAdapterFormat('9.0.0', 3)).toBe(false);
  });

  it('lists the sites that cannot read a format', () => {
    const sites = [
      { id: 'a', name: 'old', agentVersion: '0.1.0' },
      { id: 'b', name: 'new', agentVersion: '0.2.0' },
      { id: 'c', name: 'silent', agentVersion: null },
    ];
    expect(adapterCompatibility(2, sites)).toEqual({
      formatVersion: 2,
      firstAgentVersion: '0.2.0',
      sitesUnableToRead: [
        { siteId: 'a', name: 'old', agentVersion: '0.1.0' },
        { siteId: 'c', name: 'silent', agentVersion: null },
      ],
    });
    expect(adapterCompatibility(1, sites).sitesUnableToRead).toEqual([
      { siteId: 'c', name: 'silent', agentVersion: null },
    ]);
  });
});
