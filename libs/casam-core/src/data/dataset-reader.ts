/**
 * Reads a dataset folder (manifest layout or plain `images/` + `masks/<class>/` layout), checks every file
 * and indexes what is usable. Bad files are reported one by one through `onProblem` and skipped; only a
 * folder that cannot be a dataset at all (no manifest and no `images/`, a manifest of another format) throws.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { RgbImage, decodeImage } from '../image/image-io';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  DEFAULT_SPLITS,
  DatasetClass,
  DatasetFormatError,
  DatasetItemEntry,
  DatasetItemError,
  DatasetManifest,
  MANIFEST_FILE,
  DATASET_SPLITS,
  DatasetSplit,
  SplitFractions,
  assignSplit,
  isSafeName,
  isSafeRelativePath,
  validateSplitFractions,
} from './dataset-format';

export type DatasetProblemKind =
  | 'missing-file'
  | 'unreadable'
  | 'size-mismatch'
  | 'empty-mask'
  | 'duplicate-id'
  | 'bad-entry'
  | 'unknown-class'
  | 'no-masks'
  | 'orphan-mask';

/** What was done about a problem: the whole item left out, one mask left out, or a stray file ignored. */
export type DatasetProblemEffect = 'item-skipped' | 'mask-skipped' | 'ignored';

export interface DatasetProblem {
  kind: DatasetProblemKind;
  effect: DatasetProblemEffect;
  itemId?: string;
  /** Relative to the dataset root. */
  path?: string;
  message: string;
}

export interface IndexedMask {
  classId: number;
  className: string;
  /** Relative to the root, as in the manifest. */
  path: string;
  /** Absolute path. */
  file: string;
}

export interface DatasetItem {
  id: string;
  split: DatasetSplit;
  image: string;
  imageFile: string;
  width: number;
  height: number;
  /** Only masks that were readable, of the image's size and non-empty. */
  masks: IndexedMask[];
}

export interface DatasetIndex {
  root: string;
  layout: 'manifest' | 'plain';
  name: string;
  modality: string;
  domain: string;
  seed?: number;
  classes: DatasetClass[];
  /** Usable items, in manifest order (plain layout: sorted by id). */
  items: DatasetItem[];
  problems: DatasetProblem[];
  /** The manifest of the usable part (what a clean copy of this dataset would carry). */
  manifest: DatasetManifest;
}

export interface ReadDatasetOptions {
  onProblem?: (p: DatasetProblem) => void;
  /** Called after each item is checked. */
  onProgress?: (done: number, total: number) => void;
  /** Plain layout only: split assignment (see `assignSplit`) and the metadata a manifest would carry. */
  seed?: number;
  splits?: SplitFractions;
  name?: string;
  modality?: string;
  domain?: string;
}

const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg']);

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and decodes a file; a missing or corrupt file becomes a problem kind instead of an exception. */
async function readPicture(
  file: string,
  rel: string,
): Promise<{ ok: true; img: RgbImage } | { ok: false; kind: DatasetProblemKind; message: string }> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, kind: 'missing-file', message: `${rel}: file not found` };
    return { ok: false, kind: 'unreadable', message: `${rel}: cannot read (${(e as Error).message})` };
  }
  try {
    return { ok: true, img: decodeImage(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), rel) };
  } catch (e) {
    return { ok: false, kind: 'unreadable', message: (e as Error).message };
  }
}

/** 0/1 foreground of a decoded mask picture: any non-zero channel counts. */
export function maskFromPicture(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const m = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) m[i] = d[j] | d[j + 1] | d[j + 2] ? 1 : 0;
  return m;
}

function foregroundCount(m: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < m.length; i++) c += m[i];
  return c;
}

interface Candidate {
  id: string;
  split: DatasetSplit;
  image: string;
  masks: { classId: number; path: string }[];
}

/** Checks the files of each candidate item; returns the usable items. */
async function checkItems(
  root: string,
  candidates: Candidate[],
  classes: DatasetClass[],
  report: (p: DatasetProblem) => void,
  onProgress?: (done: number, total: number) => void,
): Promise<DatasetItem[]> {
  const className = new Map(classes.map((c) => [c.id, c.name]));
  const items: DatasetItem[] = [];
  let done = 0;
  for (const c of candidates) {
    const pic = await readPicture(join(root, c.image), c.image);
    if (!pic.ok) {
      report({ kind: pic.kind, effect: 'item-skipped', itemId: c.id, path: c.image, message: pic.message });
    } else {
      const { width, height } = pic.img;
      const masks: IndexedMask[] = [];
      for (const m of c.masks) {
        const mp = await readPicture(join(root, m.path), m.path);
        const skip = (kind: DatasetProblemKind, message: string) =>
          report({ kind, effect: 'mask-skipped', itemId: c.id, path: m.path, message });
        if (!mp.ok) {
          skip(mp.kind, mp.message);
          continue;
        }
        if (mp.img.width !== width || mp.img.height !== height) {
          skip(
            'size-mismatch',
            `${m.path}: mask is ${mp.img.width}×${mp.img.height} but image ${c.image} is ${width}×${height}`,
          );
          continue;
        }
        if (foregroundCount(maskFromPicture(mp.img)) === 0) {
          skip('empty-mask', `${m.path}: mask has no foreground pixels`);
          continue;
        }
        masks.push({
          classId: m.classId,
          className: className.get(m.classId) ?? String(m.classId),
          path: m.path,
          file: join(root, m.path),
        });
      }
      if (masks.length === 0)
        report({
          kind: 'no-masks',
          effect: 'item-skipped',
          itemId: c.id,
          path: c.image,
          message: `${c.id}: no usable mask (an item needs at least one non-empty mask)`,
        });
      else
        items.push({
          id: c.id,
          split: c.split,
          image: c.image,
          imageFile: join(root, c.image),
          width,
          height,
          masks,
        });
    }
    onProgress?.(++done, candidates.length);
  }
  return items;
}

function parseManifest(text: string, where: string): { manifest: DatasetManifest; rawItems: unknown[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DatasetFormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new DatasetFormatError(`${where}: must be a JSON object`);
  const o = json as Record<string, unknown>;
  if (o['format'] !== DATASET_FORMAT)
    throw new DatasetFormatError(
      `${where}: format must be '${DATASET_FORMAT}', got ${JSON.stringify(o['format'])}`,
    );
  if (o['version'] !== DATASET_VERSION)
    throw new DatasetFormatError(
      `${where}: unsupported version ${JSON.stringify(o['version'])}; this build reads version ${DATASET_VERSION}`,
    );
  for (const k of ['name', 'modality', 'domain'])
    if (typeof o[k] !== 'string') throw new DatasetFormatError(`${where}: '${k}' must be a string`);
  if (o['seed'] !== undefined && !Number.isInteger(o['seed']))
    throw new DatasetFormatError(`${where}: 'seed' must be an integer when present`);
  if (!Array.isArray(o['classes']) || o['classes'].length === 0)
    throw new DatasetFormatError(`${where}: 'classes' must be a non-empty array`);
  const classes: DatasetClass[] = [];
  for (const c of o['classes'] as unknown[]) {
    const cc = c as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || !Number.isInteger(cc['id']) || (cc['id'] as number) < 1)
      throw new DatasetFormatError(
        `${where}: every class needs a positive integer 'id' (${JSON.stringify(c)})`,
      );
    if (!isSafeName(cc['name']))
      throw new DatasetFormatError(
        `${where}: class name ${JSON.stringify(cc['name'])} must be letters, digits, '.', '-' or '_'`,
      );
    if (classes.some((k) => k.id === cc['id'] || k.name === cc['name']))
      throw new DatasetFormatError(`${where}: duplicate class id or name in ${JSON.stringify(c)}`);
    classes.push({ id: cc['id'] as number, name: cc['name'] as string });
  }
  if (!Array.isArray(o['items'])) throw new DatasetFormatError(`${where}: 'items' must be an array`);
  const manifest: DatasetManifest = {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    name: o['name'] as string,
    modality: o['modality'] as string,
    domain: o['domain'] as string,
    ...(o['seed'] !== undefined ? { seed: o['seed'] as number } : {}),
    classes,
    items: [],
  };
  return { manifest, rawItems: o['items'] as unknown[] };
}

/** Validates one manifest item entry's shape (not its files). */
function entryProblem(
  raw: unknown,
  classIds: Set<number>,
): { entry?: Candidate; kind?: DatasetProblemKind; msg?: string } {
  if (typeof raw !== 'object' || raw === null) return { kind: 'bad-entry', msg: 'item is not an object' };
  const r = raw as Record<string, unknown>;
  if (!isSafeName(r['id']))
    return {
      kind: 'bad-entry',
      msg: `item id ${JSON.stringify(r['id'])} must be letters, digits, '.', '-' or '_'`,
    };
  const id = r['id'];
  if (!isSafeRelativePath(r['image']))
    return {
      kind: 'bad-entry',
      msg: `${id}: image path ${JSON.stringify(r['image'])} must be relative, inside the dataset`,
    };
  if (typeof r['split'] !== 'string' || !(DATASET_SPLITS as readonly string[]).includes(r['split']))
    return { kind: 'bad-entry', msg: `${id}: split must be one of ${DATASET_SPLITS.join(', ')}` };
  if (!Array.isArray(r['masks'])) return { kind: 'bad-entry', msg: `${id}: masks must be an array` };
  const masks: { classId: number; path: string }[] = [];
  for (const m of r['masks'] as unknown[]) {
    const mm = (m ?? {}) as Record<string, unknown>;
    if (!isSafeRelativePath(mm['path']))
      return {
        kind: 'bad-entry',
        msg: `${id}: mask path ${JSON.stringify(mm['path'])} must be relative, inside the dataset`,
      };
    if (!Number.isInteger(mm['classId']) || !classIds.has(mm['classId'] as number))
      return {
        kind: 'unknown-class',
        msg: `${id}: mask ${mm['path']} has classId ${JSON.stringify(mm['classId'])}, not a class of this dataset`,
      };
    masks.push({ classId: mm['classId'] as number, path: mm['path'] });
  }
  return { entry: { id, image: r['image'], split: r['split'] as DatasetSplit, masks } };
}

async function readManifestLayout(
  root: string,
  opts: ReadDatasetOptions,
  report: (p: DatasetProblem) => void,
): Promise<DatasetIndex> {
  const where = join(root, MANIFEST_FILE);
  const { manifest, rawItems } = parseManifest(await readFile(where, 'utf8'), where);
  const classIds = new Set(manifest.classes.map((c) => c.id));
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  rawItems.forEach((raw, n) => {
    const { entry, kind, msg } = entryProblem(raw, classIds);
    if (!entry) {
      const rid = (raw as Record<string, unknown> | null)?.['id'];
      report({
        kind: kind ?? 'bad-entry',
        effect: 'item-skipped',
        ...(typeof rid === 'string' ? { itemId: rid } : {}),
        message: `manifest item #${n}: ${msg}`,
      });
      return;
    }
    if (seen.has(entry.id)) {
      report({
        kind: 'duplicate-id',
        effect: 'item-skipped',
        itemId: entry.id,
        message: `manifest item #${n}: id '${entry.id}' appears more than once; the first one is kept`,
      });
      return;
    }
    seen.add(entry.id);
    candidates.push(entry);
  });
  const items = await checkItems(root, candidates, manifest.classes, report, opts.onProgress);
  return finishIndex(root, 'manifest', manifest, items);
}

/** Plain-layout ids come from file names: anything outside the safe alphabet becomes '_'. */
export function idFromFileName(stem: string): string {
  return stem
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/\.+$/, '')
    .slice(0, 128);
}

async function listFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir, { withFileTypes: true });
  return names
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}

async function readPlainLayout(
  root: string,
  opts: ReadDatasetOptions,
  report: (p: DatasetProblem) => void,
): Promise<DatasetIndex> {
  const seed = opts.seed ?? 0;
  const fractions = validateSplitFractions(opts.splits ?? DEFAULT_SPLITS);
  const images = new Map<string, string>(); // id → relative image path
  for (const f of await listFiles(join(root, 'images'))) {
    const ext = extname(f).toLowerCase();
    if (!IMAGE_EXTS.has(ext)) {
      report({
        kind: 'bad-entry',
        effect: 'ignored',
        path: `images/${f}`,
        message: `images/${f}: not a .png, .jpg or .jpeg file`,
      });
      continue;
    }
    const id = idFromFileName(basename(f, extname(f)));
    if (!isSafeName(id)) {
      report({
        kind: 'bad-entry',
        effect: 'ignored',
        path: `images/${f}`,
        message: `images/${f}: no usable id can be made from this file name`,
      });
      continue;
    }
    if (images.has(id)) {
      report({
        kind: 'duplicate-id',
        effect: 'item-skipped',
        itemId: id,
        path: `images/${f}`,
        message: `images/${f}: another image (${images.get(id)}) has the same id '${id}'; the first one is kept`,
      });
      continue;
    }
    images.set(id, `images/${f}`);
  }
  const masksDir = join(root, 'masks');
  const classes: DatasetClass[] = [];
  const masksOf = new Map<string, { classId: number; path: string }[]>();
  if (await isDir(masksDir)) {
    const dirs = (await readdir(masksDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
    for (const cls of dirs) {
      if (!isSafeName(cls)) {
        report({
          kind: 'bad-entry',
          effect: 'ignored',
          path: `masks/${cls}`,
          message: `masks/${cls}: class folder names must be letters, digits, '.', '-' or '_'`,
        });
        continue;
      }
      const classId = classes.length + 1;
      classes.push({ id: classId, name: cls });
      for (const f of await listFiles(join(masksDir, cls))) {
        const rel = `masks/${cls}/${f}`;
        if (extname(f).toLowerCase() !== '.png') {
          report({
            kind: 'bad-entry',
            effect: 'ignored',
            path: rel,
            message: `${rel}: masks must be PNG (lossy JPEG edges are not a mask)`,
          });
          continue;
        }
        const id = idFromFileName(basename(f, extname(f)));
        if (!images.has(id)) {
          report({
            kind: 'orphan-mask',
            effect: 'ignored',
            path: rel,
            message: `${rel}: no image with id '${id}' in images/`,
          });
          continue;
        }
        const list = masksOf.get(id) ?? [];
        list.push({ classId, path: rel });
        masksOf.set(id, list);
      }
    }
  }
  if (classes.length === 0)
    throw new DatasetFormatError(
      `${root}: no manifest.json and no class folders under masks/ (expected masks/<class>/<image name>.png)`,
    );
  const candidates: Candidate[] = [];
  for (const id of [...images.keys()].sort()) {
    const masks = masksOf.get(id);
    if (!masks) {
      report({
        kind: 'no-masks',
        effect: 'item-skipped',
        itemId: id,
        path: images.get(id),
        message: `${images.get(id)}: no mask in any masks/<class>/ folder`,
      });
      continue;
    }
    candidates.push({ id, image: images.get(id) as string, split: assignSplit(id, seed, fractions), masks });
  }
  const items = await checkItems(root, candidates, classes, report, opts.onProgress);
  const manifest: DatasetManifest = {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    name: opts.name ?? basename(root),
    modality: opts.modality ?? 'unknown',
    domain: opts.domain ?? basename(root),
    seed,
    classes,
    items: [],
  };
  return finishIndex(root, 'plain', manifest, items);
}

function finishIndex(
  root: string,
  layout: 'manifest' | 'plain',
  manifest: DatasetManifest,
  items: DatasetItem[],
): DatasetIndex {
  const entries: DatasetItemEntry[] = items.map((it) => ({
    id: it.id,
    image: it.image,
    masks: it.masks.map((m) => ({ classId: m.classId, path: m.path })),
    split: it.split,
  }));
  const full = { ...manifest, items: entries };
  return {
    root,
    layout,
    name: manifest.name,
    modality: manifest.modality,
    domain: manifest.domain,
    ...(manifest.seed !== undefined ? { seed: manifest.seed } : {}),
    classes: manifest.classes,
    items,
    problems: [],
    manifest: full,
  };
}

/**
 * Indexes a dataset folder. With `manifest.json` the manifest rules; without it, `images/` and
 * `masks/<class>/` are matched by file stem and splits assigned by hashing ids with `seed`.
 */
export async function readDatasetFolder(
  rootIn: string,
  opts: ReadDatasetOptions = {},
): Promise<DatasetIndex> {
  const root = resolve(rootIn);
  if (!(await isDir(root))) throw new DatasetFormatError(`${root}: dataset folder not found`);
  const problems: DatasetProblem[] = [];
  const report = (p: DatasetProblem) => {
    problems.push(p);
    opts.onProblem?.(p);
  };
  let index: DatasetIndex;
  if (await exists(join(root, MANIFEST_FILE))) index = await readManifestLayout(root, opts, report);
  else if (await isDir(join(root, 'images'))) index = await readPlainLayout(root, opts, report);
  else
    throw new DatasetFormatError(
      `${root}: neither a ${MANIFEST_FILE} nor an images/ folder; see docs/data-format.md`,
    );
  index.problems = problems;
  return index;
}

export interface LoadedMask {
  classId: number;
  className: string;
  /** 0/1 per pixel, row-major, the image's size. Several masks of one class are merged (union). */
  data: Uint8Array;
}

export interface LoadedItem {
  id: string;
  split: DatasetSplit;
  image: RgbImage;
  masks: LoadedMask[];
}

/** Decodes an indexed item for training; throws `DatasetItemError` if its files changed since indexing. */
export async function loadItem(item: DatasetItem): Promise<LoadedItem> {
  const pic = await readPicture(item.imageFile, item.image);
  if (!pic.ok) throw new DatasetItemError(`item ${item.id}: ${pic.message}`);
  const { width, height } = pic.img;
  if (width !== item.width || height !== item.height)
    throw new DatasetItemError(
      `item ${item.id}: ${item.image} is now ${width}×${height}, indexed as ${item.width}×${item.height}`,
    );
  const byClass = new Map<number, LoadedMask>();
  for (const m of item.masks) {
    const mp = await readPicture(m.file, m.path);
    if (!mp.ok) throw new DatasetItemError(`item ${item.id}: ${mp.message}`);
    if (mp.img.width !== width || mp.img.height !== height)
      throw new DatasetItemError(
        `item ${item.id}: ${m.path} is ${mp.img.width}×${mp.img.height}, image is ${width}×${height}`,
      );
    const data = maskFromPicture(mp.img);
    const prev = byClass.get(m.classId);
    if (prev) for (let i = 0; i < data.length; i++) prev.data[i] |= data[i];
    else byClass.set(m.classId, { classId: m.classId, className: m.className, data });
  }
  return {
    id: item.id,
    split: item.split,
    image: pic.img,
    masks: [...byClass.values()].sort((a, b) => a.classId - b.classId),
  };
}

/** The items of one split, in index order. */
export function itemsOfSplit(index: DatasetIndex, split: DatasetSplit): DatasetItem[] {
  return index.items.filter((it) => it.split === split);
}
