import { describe, expect, it } from 'vitest';
import {
  DatasetOptionsError,
  assignSplit,
  datasetHash32,
  isSafeName,
  isSafeRelativePath,
  sequenceSplit,
  validateSplitFractions,
} from './dataset-format';

describe('dataset format rules', () => {
  it('hashes strings reproducibly (golden values guard the documented algorithm)', () => {
    expect(datasetHash32('')).toBe(datasetHash32(''));
    expect(datasetHash32('a')).not.toBe(datasetHash32('b'));
    // Pinned so a change to the hash (which would move every item to another split) is caught.
    expect([datasetHash32('0:case01'), datasetHash32('7:img-003')]).toMatchInlineSnapshot(`
      [
        3993036825,
        1174155028,
      ]
    `);
  });

  it('assigns splits from the id alone, close to the requested fractions', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `img${i}`);
    const a = ids.map((id) => assignSplit(id, 3));
    expect(ids.map((id) => assignSplit(id, 3))).toEqual(a);
    const frac = (s: string) => a.filter((x) => x === s).length / ids.length;
    expect(frac('train')).toBeCloseTo(0.7, 1);
    expect(frac('val')).toBeCloseTo(0.15, 1);
    expect(frac('test')).toBeCloseTo(0.15, 1);
    // Another seed reshuffles.
    expect(ids.map((id) => assignSplit(id, 4))).not.toEqual(a);
    expect(assignSplit('x', 1, { train: 1, val: 0, test: 0 })).toBe('train');
    expect(assignSplit('x', 1, { train: 0, val: 0, test: 1 })).toBe('test');
  });

  it('splits every prefix of a generated sequence close to the fractions', () => {
    for (const n of [10, 20, 100]) {
      const s = Array.from({ length: n }, (_, i) => sequenceSplit(i, 5));
      const val = s.filter((x) => x === 'val').length;
      expect(Math.abs(val - 0.15 * n)).toBeLessThanOrEqual(1.5);
      expect(s.filter((x) => x === 'train').length).toBeGreaterThan(0.55 * n);
    }
  });

  it('refuses split fractions out of range or not summing to 1', () => {
    expect(() => validateSplitFractions({ train: 0.8, val: 0.1, test: 0.2 })).toThrow(/sum to 1/);
    expect(() => validateSplitFractions({ train: -0.1, val: 0.6, test: 0.5 })).toThrow(DatasetOptionsError);
    expect(() => validateSplitFractions({ train: Number.NaN, val: 0, test: 1 })).toThrow(/train/);
  });

  it('accepts only portable names and paths that stay inside the dataset', () => {
    expect(isSafeName('case_01.a-b')).toBe(true);
    for (const bad of ['', '.hidden', 'a/b', 'a b', 'a__b', 'x.', '-x', 'ü'])
      expect(isSafeName(bad)).toBe(false);
    expect(isSafeRelativePath('images/a.png')).toBe(true);
    for (const bad of [
      '/etc/passwd',
      '../x.png',
      'images/../../x',
      'a\\b.png',
      'C:/x.png',
      'images//a.png',
      '',
    ])
      expect(isSafeRelativePath(bad)).toBe(false);
  });
});
