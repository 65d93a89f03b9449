import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RgbImage, encodeMaskPng, encodeRgbPng } from '../image/image-io';
import { mulberry32 } from '../random/seeded-random';
import { DatasetFormatError, assignSplit } from './dataset-format';
import { DatasetProblem, loadItem, readDatasetFolder } from './dataset-reader';
import { ItemToWrite, writeDatasetFolder } from './dataset-writer';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'casam-ds-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function picture(w: number, h: number, seed: number, grey = false): RgbImage {
  const r = mulberry32(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const v = Math.floor(r() * 256);
    data[3 * i] = v;
    data[3 * i + 1] = grey ? v : Math.floor(r() * 256);
    data[3 * i + 2] = grey ? v : Math.floor(r() * 256);
  }
  return { width: w, height: h, data };
}

function blobMask(w: number, h: number, cx: number, cy: number, r: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) m[y * w + x] = (x - cx) ** 2 + (y - cy) ** 2 <= r * r ? 1 : 0;
  return m;
}

const classes = [
  { id: 1, name: 'organ' },
  { id: 2, name: 'lesion' },
];

function items(n: number): ItemToWrite[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `case${i}`,
    split: (['train', 'val', 'test'] as const)[i % 3],
    image: picture(20, 14, i, i % 2 === 0),
    masks: [
      { classId: 1, className: 'organ', data: blobMask(20, 14, 8, 7, 4) },
      ...(i % 2 ? [{ classId: 2, className: 'lesion', data: blobMask(20, 14, 14, 5, 2 + (i % 3)) }] : []),
    ],
  }));
}

describe('dataset folder round trip', () => {
  it('reads back exactly the images, masks, splits and metadata that were written', async () => {
    const root = tmp();
    const src = items(5);
    await writeDatasetFolder(
      root,
      { name: 'demo', modality: 'MR', domain: 'demo-dom', seed: 9, classes },
      src,
    );
    const progress: number[] = [];
    const idx = await readDatasetFolder(root, { onProgress: (d) => progress.push(d) });
    expect(idx.problems).toEqual([]);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(idx.layout).toBe('manifest');
    expect([idx.name, idx.modality, idx.domain, idx.seed]).toEqual(['demo', 'MR', 'demo-dom', 9]);
    expect(idx.classes).toEqual(classes);
    expect(idx.items.map((it) => it.id)).toEqual(src.map((s) => s.id));
    for (const [k, it] of idx.items.entries()) {
      const loaded = await loadItem(it);
      expect(loaded.split).toBe(src[k].split);
      expect(loaded.image).toEqual(src[k].image);
      expect(loaded.masks.map((m) => [m.classId, m.className])).toEqual(
        src[k].masks.map((m) => [m.classId, m.className]),
      );
      loaded.masks.forEach((m, j) => expect(m.data).toEqual(src[k].masks[j].data));
    }
    // Grey images are stored as 1-channel PNGs (colour type 0 at byte 25 of the IHDR).
    expect(readFileSync(join(root, 'images/case0.png'))[25]).toBe(0);
    expect(readFileSync(join(root, 'images/case1.png'))[25]).toBe(2);
    expect(idx.manifest.items).toHaveLength(5);
  });

  it('merges several masks of one class (instances) into one mask on load', async () => {
    const root = tmp();
    await writeDatasetFolder(root, { name: 'x', modality: 'CT', domain: 'x', classes }, items(1));
    const m = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
    writeFileSync(join(root, 'masks/extra.png'), encodeMaskPng(blobMask(20, 14, 17, 11, 2), 20, 14));
    m.items[0].masks.push({ classId: 1, path: 'masks/extra.png' });
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(m));
    const idx = await readDatasetFolder(root);
    const loaded = await loadItem(idx.items[0]);
    expect(loaded.masks).toHaveLength(1);
    const a = blobMask(20, 14, 8, 7, 4);
    const b = blobMask(20, 14, 17, 11, 2);
    expect(loaded.masks[0].data).toEqual(a.map((v, i) => v | b[i]));
  });
});

describe('problem reporting', () => {
  it('reports each bad file and keeps going with the rest', async () => {
    const root = tmp();
    await writeDatasetFolder(root, { name: 'p', modality: 'MR', domain: 'p', classes }, items(8));
    const m = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
    // case0: corrupt image; case1: lesion mask of another size; case2: empty organ mask (no lesion either, so
    // no mask is left); case3: missing organ mask (its lesion remains); case4 appears twice; case5: unknown
    // class; case6: a path leaving the dataset; case7 stays good.
    writeFileSync(join(root, 'images/case0.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a png'));
    writeFileSync(
      join(root, 'masks/case1__lesion.png'),
      encodeMaskPng(new Uint8Array(10 * 7).fill(1), 10, 7),
    );
    writeFileSync(join(root, 'masks/case2__organ.png'), encodeMaskPng(new Uint8Array(20 * 14), 20, 14));
    rmSync(join(root, 'masks/case3__organ.png'));
    m.items.push({ ...m.items[4] });
    m.items[5].masks[0].classId = 7;
    m.items[6].image = '../../etc/passwd';
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(m));
    const seen: DatasetProblem[] = [];
    const idx = await readDatasetFolder(root, { onProblem: (p) => seen.push(p) });
    const summary = idx.problems.map((p) => `${p.itemId}:${p.kind}:${p.effect}`).sort();
    expect(summary).toEqual(
      [
        'case0:unreadable:item-skipped',
        'case1:size-mismatch:mask-skipped',
        'case2:empty-mask:mask-skipped',
        'case2:no-masks:item-skipped',
        'case3:missing-file:mask-skipped',
        'case4:duplicate-id:item-skipped',
        'case5:unknown-class:item-skipped',
        'case6:bad-entry:item-skipped',
      ].sort(),
    );
    expect(seen).toEqual(idx.problems);
    expect(idx.items.map((it) => it.id)).toEqual(['case1', 'case3', 'case4', 'case7']);
    expect(idx.items[0].masks.map((mm) => mm.className)).toEqual(['organ']);
    for (const p of idx.problems) expect(p.message.length).toBeGreaterThan(10);
    expect(idx.problems.find((p) => p.kind === 'size-mismatch')?.message).toMatch(/10×7.*20×14/);
  });

  it('refuses folders that are not datasets with a clear error', async () => {
    const root = tmp();
    await expect(readDatasetFolder(join(root, 'nope'))).rejects.toThrow(/not found/);
    await expect(readDatasetFolder(root)).rejects.toThrow(DatasetFormatError);
    writeFileSync(join(root, 'manifest.json'), '{"format": "casam-dataset", "version": 2}');
    await expect(readDatasetFolder(root)).rejects.toThrow(/unsupported version 2/);
    writeFileSync(join(root, 'manifest.json'), '{not json');
    await expect(readDatasetFolder(root)).rejects.toThrow(/not valid JSON/);
    writeFileSync(
      join(root, 'manifest.json'),
      JSON.stringify({
        format: 'casam-dataset',
        version: 1,
        name: 'a',
        modality: 'b',
        domain: 'c',
        classes: [{ id: 1, name: 'a/b' }],
        items: [],
      }),
    );
    await expect(readDatasetFolder(root)).rejects.toThrow(/class name/);
  });

  it('reports a loaded item whose file broke after indexing', async () => {
    const root = tmp();
    await writeDatasetFolder(root, { name: 'b', modality: 'MR', domain: 'b', classes }, items(1));
    const idx = await readDatasetFolder(root);
    writeFileSync(join(root, 'images/case0.png'), 'garbage');
    await expect(loadItem(idx.items[0])).rejects.toThrow(/case0.*not a PNG or JPEG/);
  });
});

describe('plain folder layout', () => {
  function plainFolder(): string {
    const root = tmp();
    mkdirSync(join(root, 'images'));
    mkdirSync(join(root, 'masks/liver'), { recursive: true });
    mkdirSync(join(root, 'masks/tumour'));
    for (let i = 0; i < 12; i++) {
      writeFileSync(join(root, `images/scan ${i}.png`), encodeRgbPng(picture(16, 16, i)));
      writeFileSync(
        join(root, `masks/liver/scan ${i}.png`),
        encodeMaskPng(blobMask(16, 16, 8, 8, 5), 16, 16),
      );
      if (i % 4 === 0)
        writeFileSync(
          join(root, `masks/tumour/scan ${i}.png`),
          encodeMaskPng(blobMask(16, 16, 9, 9, 2), 16, 16),
        );
    }
    writeFileSync(join(root, 'images/notes.txt'), 'hello');
    writeFileSync(join(root, 'images/lonely.png'), encodeRgbPng(picture(16, 16, 99)));
    writeFileSync(join(root, 'masks/liver/ghost.png'), encodeMaskPng(blobMask(16, 16, 8, 8, 5), 16, 16));
    return root;
  }

  it('matches images and class folders by stem and assigns splits reproducibly by hashing ids', async () => {
    const root = plainFolder();
    const splits = { train: 0.5, val: 0.25, test: 0.25 };
    const a = await readDatasetFolder(root, { seed: 11, splits, modality: 'CT' });
    expect(a.layout).toBe('plain');
    expect(a.classes).toEqual([
      { id: 1, name: 'liver' },
      { id: 2, name: 'tumour' },
    ]);
    expect(a.items).toHaveLength(12);
    expect(a.items[0].id).toBe('scan_0');
    expect(a.items.find((it) => it.id === 'scan_4')?.masks.map((m) => m.className)).toEqual([
      'liver',
      'tumour',
    ]);
    for (const it of a.items) expect(it.split).toBe(assignSplit(it.id, 11, splits));
    const b = await readDatasetFolder(root, { seed: 11, splits });
    expect(b.items.map((it) => it.split)).toEqual(a.items.map((it) => it.split));
    const c = await readDatasetFolder(root, { seed: 12, splits });
    expect(c.items.map((it) => it.split)).not.toEqual(a.items.map((it) => it.split));
    expect(a.problems.map((p) => `${p.kind}:${p.path}`).sort()).toEqual(
      [
        'bad-entry:images/notes.txt',
        'no-masks:images/lonely.png',
        'orphan-mask:masks/liver/ghost.png',
      ].sort(),
    );
    expect(a.manifest.modality).toBe('CT');
    const loaded = await loadItem(a.items[3]);
    expect(loaded.image.width).toBe(16);
  });

  it('refuses bad split fractions', async () => {
    const root = plainFolder();
    await expect(readDatasetFolder(root, { splits: { train: 0.5, val: 0.5, test: 0.5 } })).rejects.toThrow(
      /sum to 1/,
    );
  });
});
