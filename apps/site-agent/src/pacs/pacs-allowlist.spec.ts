import { describe, expect, it } from 'vitest';
import { isUnder, pacsConfigProblems } from './pacs-allowlist';

describe('the PACS allowlist of agent.json', () => {
  it('covers a DICOMweb root and what lies below it, on the same origin only', () => {
    const root = 'https://pacs.hospital.example/dicom-web';
    expect(isUnder('https://pacs.hospital.example/dicom-web', root)).toBe(true);
    expect(isUnder('https://pacs.hospital.example/dicom-web/', root)).toBe(true);
    expect(isUnder('https://pacs.hospital.example/dicom-web/studies/1.2.3', `${root}/`)).toBe(true);
    expect(isUnder('https://pacs.hospital.example/dicom-webx', root)).toBe(false);
    expect(isUnder('https://pacs.hospital.example/other', root)).toBe(false);
    expect(isUnder('http://pacs.hospital.example/dicom-web', root)).toBe(false);
    expect(isUnder('https://pacs.hospital.example:8443/dicom-web', root)).toBe(false);
    expect(isUnder('https://evil.example/dicom-web', root)).toBe(false);
  });

  it('accepts a list of http(s) roots and names every bad entry', () => {
    expect(pacsConfigProblems(undefined)).toEqual([]);
    expect(
      pacsConfigProblems({ allowed: ['https://pacs.example/dicom-web', 'http://10.0.0.5:8042/dicom-web'] }),
    ).toEqual([]);
    expect(pacsConfigProblems({ allowed: 'https://pacs.example' })).toEqual([
      'pacs must be {allowed: [DICOMweb root URL, …]}',
    ]);
    expect(pacsConfigProblems({ allowed: [], extra: 1 })).toEqual([
      'pacs must be {allowed: [DICOMweb root URL, …]}',
    ]);
    expect(
      pacsConfigProblems({
        allowed: [
          'ftp://pacs.example',
          'https://u:p@pacs.example/dw',
          'https://pacs.example/?a=1',
          'not a url',
        ],
      }),
    ).toHaveLength(4);
  });
});
