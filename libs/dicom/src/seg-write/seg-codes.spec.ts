import { describe, expect, it } from 'vitest';
import { algorithmName, algorithmVersion, contentLabel, fitLongString, softwareVersions } from './seg-codes';

const algorithm = {
  task: 'liver',
  adapterVersion: 3,
  bundleVersion: 12,
  baseModel: 'casam-small@1a2b3c4d',
  softwareVersion: '0.4.0',
};

describe('algorithm identification', () => {
  it('names task, adapter, bundle and base model', () => {
    expect(algorithmName(algorithm)).toBe('CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d');
    expect(algorithmVersion({ ...algorithm, adapterVersion: undefined, bundleVersion: undefined })).toBe(
      'base casam-small@1a2b3c4d',
    );
    expect(softwareVersions(algorithm)).toEqual([
      'site-agent 0.4.0',
      'adapter 3',
      'bundle 12',
      'casam-small@1a2b3c4d',
    ]);
  });

  it('cuts a long task name, not the versions, to fit 64 characters', () => {
    const name = algorithmName({ ...algorithm, task: 'left-ventricle-myocardium-and-papillary-muscles' });
    expect(name).toBe('CA-SAM left-ven... adapter 3 bundle 12 base casam-small@1a2b3c4d');
    expect(name).toHaveLength(64);
  });

  it('cuts the whole string when the tail alone is too long', () => {
    const fitted = fitLongString('CA-SAM x', 'y'.repeat(80));
    expect(fitted).toHaveLength(64);
    expect(fitted.endsWith('...')).toBe(true);
    expect(fitLongString('a', 'b')).toBe('a b');
  });
});

describe('contentLabel', () => {
  it('makes a valid CS from a task name', () => {
    expect(contentLabel('liver')).toBe('LIVER');
    expect(contentLabel('left-ventricle (LV) myocardium')).toBe('LEFT_VENTRICLE_L');
    expect(contentLabel('--')).toBe('SEGMENTATION');
    for (const label of [contentLabel('ä b/c'), contentLabel('x'.repeat(40))]) {
      expect(label).toMatch(/^[A-Z0-9_ ]{1,16}$/);
    }
  });
});
