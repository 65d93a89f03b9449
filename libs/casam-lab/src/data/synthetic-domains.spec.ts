import { readFileSync, readdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  RgbImage,
  decodeImage,
  DatasetOptionsError,
  loadItem,
  readDatasetFolder,
  DatasetResumeError,
} from '@casam/casam-core';
import {
  DOMAIN_NAMES,
  GeneratedItem,
  UNSEEN_DOMAIN_NAMES,
  UnknownDomainError,
  domainInfo,
  generateDomain,
  generateItem,
  writeDomainFolder,
} from './synthetic-domains';

const ALL = [...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES];
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'casam-syn-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Mean R, G, B; grey std; mean |horizontal gradient|; fraction of near-black pixels; colourfulness. */
function features(img: RgbImage): number[] {
  const n = img.width * img.height;
  const d = img.data;
  const grey = new Float32Array(n);
  let r = 0;
  let g = 0;
  let b = 0;
  let dark = 0;
  let chroma = 0;
  for (let i = 0; i < n; i++) {
    const R = d[3 * i] / 255;
    const G = d[3 * i + 1] / 255;
    const B = d[3 * i + 2] / 255;
    r += R;
    g += G;
    b += B;
    grey[i] = (R + G + B) / 3;
    chroma += Math.abs(R - G) + Math.abs(G - B);
    if (grey[i] < 0.08) dark++;
  }
  const mean = (r + g + b) / (3 * n);
  let v = 0;
  let grad = 0;
  for (let i = 0; i < n; i++) {
    v += (grey[i] - mean) ** 2;
    if (i % img.width) grad += Math.abs(grey[i] - grey[i - 1]);
  }
  return [r / n, g / n, b / n, Math.sqrt(v / n), grad / n, dark / n, chroma / n];
}

const cache = new Map<string, GeneratedItem[]>();
function items(name: string): GeneratedItem[] {
  let it = cache.get(name);
  if (!it) {
    it = generateDomain(name, { count: 8, seed: 7 });
    cache.set(name, it);
  }
  return it;
}

describe('domain registry', () => {
  it("lists the paper's nine tasks in order and keeps the unseen domains apart", () => {
    expect(DOMAIN_NAMES).toEqual([
      'acdc-cardiac-mr',
      'ebhi-colon-pathology',
      'kidney-56nx-glomerulus',
      'kidney-dn-glomerulus',
      'polyp-endoscopy',
      'msd-prostate-zones',
      'msd-spleen-ct',
      'promise12-prostate-mr',
      'sts-dental-xray',
    ]);
    expect(UNSEEN_DOMAIN_NAMES.length).toBeGreaterThanOrEqual(2);
    for (const n of DOMAIN_NAMES) expect(domainInfo(n).unseen).toBe(false);
    for (const n of UNSEEN_DOMAIN_NAMES) expect(domainInfo(n).unseen).toBe(true);
    expect(domainInfo('acdc-cardiac-mr').classes).toEqual([
      { id: 1, name: 'lv' },
      { id: 2, name: 'myo' },
      { id: 3, name: 'rv' },
    ]);
    expect(domainInfo('msd-prostate-zones').classes.map((c) => c.name)).toEqual([
      'peripheral-zone',
      'transition-zone',
    ]);
    expect(() => domainInfo('mri')).toThrow(UnknownDomainError);
    expect(() => generateDomain('acdc-cardiac-mr', { count: 1, size: 8 })).toThrow(DatasetOptionsError);
    expect(() => generateDomain('acdc-cardiac-mr', { count: -1 })).toThrow(/count/);
    expect(() =>
      generateDomain('acdc-cardiac-mr', { count: 1, splits: { train: 1, val: 1, test: 0 } }),
    ).toThrow(/sum to 1/);
  });
});

describe('every domain', () => {
  for (const name of ALL)
    it(`${name}: right-sized images, at least one non-empty mask of the image's size`, () => {
      const info = domainInfo(name);
      for (const it of items(name)) {
        expect([it.image.width, it.image.height]).toEqual([256, 256]);
        expect(it.image.data.length).toBe(256 * 256 * 3);
        expect(it.masks.length).toBeGreaterThan(0);
        for (const m of it.masks) {
          expect(m.data.length).toBe(256 * 256);
          const fg = m.data.reduce((a, v) => a + v, 0);
          expect(fg).toBeGreaterThan(20);
          expect(fg).toBeLessThan(256 * 256 * 0.6);
          expect(info.classes.find((c) => c.id === m.classId)?.name).toBe(m.className);
        }
      }
      // Positions vary: the mask centroids of the first class are not all in one place.
      const cx = items(name).map((it) => {
        let s = 0;
        let n = 0;
        it.masks[0].data.forEach((v, i) => {
          if (v) {
            s += i % 256;
            n++;
          }
        });
        return s / n;
      });
      expect(Math.max(...cx) - Math.min(...cx)).toBeGreaterThan(5);
    });

  it('renders at other sizes too', () => {
    for (const name of ALL) {
      const it = generateItem(name, 0, { size: 96, seed: 2 });
      expect([it.image.width, it.image.height, it.masks[0].data.length]).toEqual([96, 96, 96 * 96]);
    }
  });
});

describe('determinism', () => {
  it('same seed and index give identical items; another seed gives different ones', () => {
    for (const name of ALL) {
      const a = generateItem(name, 3, { seed: 11, size: 64 });
      const b = generateItem(name, 3, { seed: 11, size: 64 });
      expect(b.image.data).toEqual(a.image.data);
      expect(b.masks).toEqual(a.masks);
      expect(generateItem(name, 3, { seed: 12, size: 64 }).image.data).not.toEqual(a.image.data);
      expect(generateItem(name, 4, { seed: 11, size: 64 }).image.data).not.toEqual(a.image.data);
      // An item does not depend on how many were asked for or where the batch started.
      expect(generateDomain(name, { count: 2, start: 2, seed: 11, size: 64 })[1].image.data).toEqual(
        a.image.data,
      );
    }
  });

  it('writes byte-identical folders for the same seed', async () => {
    const files = (root: string): Map<string, Buffer> => {
      const out = new Map<string, Buffer>();
      const walk = (d: string) => {
        for (const e of readdirSync(d)) {
          const p = join(d, e);
          if (statSync(p).isDirectory()) walk(p);
          else out.set(relative(root, p), readFileSync(p));
        }
      };
      walk(root);
      return out;
    };
    const [a, b, c] = [tmp(), tmp(), tmp()];
    for (const root of [a, b])
      await writeDomainFolder(root, 'msd-spleen-ct', { count: 4, size: 64, seed: 5 });
    await writeDomainFolder(c, 'msd-spleen-ct', { count: 4, size: 64, seed: 6 });
    const fa = files(a);
    const fb = files(b);
    const fc = files(c);
    expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
    expect(fa.size).toBeGreaterThan(9);
    for (const [k, v] of fa) expect(fb.get(k)?.equals(v), k).toBe(true);
    expect(
      fc.get('images/msd-spleen-ct-00000.png')?.equals(fa.get('images/msd-spleen-ct-00000.png') as Buffer),
    ).toBe(false);
  });
});

describe('writeDomainFolder', () => {
  it('writes a readable dataset with a preview, resumes, extends and refuses other settings', async () => {
    const root = tmp();
    const seen: number[] = [];
    const first = await writeDomainFolder(root, 'acdc-cardiac-mr', {
      count: 6,
      size: 64,
      seed: 3,
      shouldStop: () => seen.length >= 3,
      onProgress: (p) => seen.push(p.done),
    });
    expect(first).toMatchObject({ finished: false, written: 3, skipped: 0 });
    const second = await writeDomainFolder(root, 'acdc-cardiac-mr', { count: 6, size: 64, seed: 3 });
    expect(second).toMatchObject({ finished: true, written: 3, skipped: 3 });
    const third = await writeDomainFolder(root, 'acdc-cardiac-mr', { count: 8, size: 64, seed: 3 });
    expect(third).toMatchObject({ written: 2, skipped: 6 });
    const idx = await readDatasetFolder(root);
    expect(idx.problems).toEqual([]);
    expect(idx.items).toHaveLength(8);
    expect(idx.modality).toBe('MR');
    expect(idx.classes.map((c) => c.name)).toEqual(['lv', 'myo', 'rv']);
    expect(new Set(idx.items.map((i) => i.split)).size).toBeGreaterThan(1);
    const loaded = await loadItem(idx.items[5]);
    expect(loaded.image).toEqual(generateItem('acdc-cardiac-mr', 5, { size: 64, seed: 3 }).image);
    const preview = decodeImage(readFileSync(join(root, 'preview.png')));
    expect([preview.width, preview.height]).toEqual([4 * 128 + 5 * 2, 2 * 128 + 3 * 2]);
    await expect(writeDomainFolder(root, 'acdc-cardiac-mr', { count: 8, size: 64, seed: 4 })).rejects.toThrow(
      DatasetResumeError,
    );
  });
});

describe('domains differ', () => {
  it('simple statistics (mean RGB, contrast, texture, darkness, colour) separate every pair of domains', () => {
    const stats = new Map(
      ALL.map((name) => {
        const f = items(name).map((it) => features(it.image));
        const k = f[0].length;
        const mean = Array.from({ length: k }, (_, j) => f.reduce((a, x) => a + x[j], 0) / f.length);
        const sd = Array.from({ length: k }, (_, j) =>
          Math.sqrt(f.reduce((a, x) => a + (x[j] - mean[j]) ** 2, 0) / f.length),
        );
        return [name, { mean, sd }];
      }),
    );
    const weakest: string[] = [];
    let minD = Infinity;
    for (let i = 0; i < ALL.length; i++)
      for (let j = i + 1; j < ALL.length; j++) {
        const a = stats.get(ALL[i]);
        const b = stats.get(ALL[j]);
        if (!a || !b) throw new Error('missing stats');
        // Best single-feature separation in pooled standard deviations (d').
        const dPrime = Math.max(
          ...a.mean.map(
            (m, k) => Math.abs(m - b.mean[k]) / Math.sqrt((a.sd[k] ** 2 + b.sd[k] ** 2) / 2 + 1e-9),
          ),
        );
        expect(Number.isFinite(dPrime)).toBe(true);
        minD = Math.min(minD, dPrime);
        if (dPrime < 2.5) weakest.push(`${ALL[i]} vs ${ALL[j]}: d' ${dPrime.toFixed(2)}`);
      }
    expect(weakest).toEqual([]);
    console.log(`weakest pair separation: d' = ${minD.toFixed(2)}`);
  });

  it('the target is not simply the brightest (or darkest) region in most seen domains', () => {
    // Oracle threshold segmentation: the mask's own area of brightest or darkest pixels, whichever fits.
    const easy: string[] = [];
    for (const name of DOMAIN_NAMES) {
      const ious: number[] = [];
      for (const it of items(name).slice(0, 4)) {
        const n = 256 * 256;
        const g = new Float32Array(n);
        for (let i = 0; i < n; i++)
          g[i] = it.image.data[3 * i] + it.image.data[3 * i + 1] + it.image.data[3 * i + 2];
        const sorted = Float32Array.from(g).sort();
        for (const m of it.masks) {
          const area = m.data.reduce((a, v) => a + v, 0);
          let best = 0;
          for (const bright of [true, false]) {
            const thr = bright ? sorted[n - area] : sorted[area - 1];
            let inter = 0;
            let pred = 0;
            for (let i = 0; i < n; i++)
              if (bright ? g[i] >= thr : g[i] <= thr) {
                pred++;
                inter += m.data[i];
              }
            best = Math.max(best, inter / (pred + area - inter));
          }
          ious.push(best);
        }
      }
      const mean = ious.reduce((a, b) => a + b, 0) / ious.length;
      if (mean > 0.6) easy.push(`${name}: ${mean.toFixed(2)}`);
    }
    expect(easy).toEqual([]);
  });

  it('renders a 256-px item fast', () => {
    // CPU time of this process, not wall time: other test files share the cores.
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const times: number[] = [];
    for (const name of ALL) {
      generateItem(name, 100, { seed: 1 }); // warm-up
      const t0 = cpuMs();
      for (let i = 0; i < 3; i++) generateItem(name, 200 + i, { seed: 1 });
      times.push((cpuMs() - t0) / 3);
    }
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    console.log(
      `synthetic render: mean ${mean.toFixed(1)} ms/item over ${ALL.length} domains (max ${Math.max(...times).toFixed(1)})`,
    );
    // 20 ms is the target on an idle core; the bound leaves room for slow or shared CI machines.
    expect(mean).toBeLessThan(60);
  });
});
