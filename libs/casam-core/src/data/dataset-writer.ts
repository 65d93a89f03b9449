/**
 * Writes the dataset folder format, resumably. Every file is written to a temporary name and renamed, and
 * each finished item is appended to a journal (`.casam-journal.jsonl`) with the SHA-256 of its files. On the
 * next run the journal is replayed and every listed file re-hashed: items whose files are all intact are
 * skipped, anything else is written again. The manifest is written last, atomically.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RgbImage, encodeMaskPng } from '../image/image-io';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  DatasetClass,
  DatasetItemEntry,
  DatasetManifest,
  DatasetOptionsError,
  MANIFEST_FILE,
  DatasetSplit,
  imagePathFor,
  isSafeName,
  maskPathFor,
} from './dataset-format';
import { encodeImagePng } from './png-encode';

export const JOURNAL_FILE = '.casam-journal.jsonl';
const JOURNAL_KIND = 'casam-dataset-journal';

/** The folder holds something this writer must not touch or mix with (other settings, foreign files). */
export class DatasetResumeError extends Error {
  override name = 'DatasetResumeError';
}

export interface ItemToWrite {
  id: string;
  split: DatasetSplit;
  image: RgbImage;
  /** 0/1 (or 0/non-zero) masks of the image's size. */
  masks: readonly { classId: number; className: string; data: Uint8Array }[];
}

export interface DatasetHeader {
  name: string;
  modality: string;
  domain: string;
  seed?: number;
  classes: DatasetClass[];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Writes `bytes` so that the final name only ever holds a complete file. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}

interface JournalItem {
  entry: DatasetItemEntry;
  sha256: Record<string, string>;
}

export class DatasetFolderWriter {
  private readonly complete = new Map<string, DatasetItemEntry>();
  private readonly sources = new Map<string, string[]>();

  private constructor(
    readonly root: string,
    readonly resumeKey: string,
  ) {}

  /**
   * Opens `root` for writing. `resumeKey` names the settings that determine the content (generator, seed,
   * size…): a journal with another key is refused rather than mixed. A non-empty folder without a journal
   * is refused too (it was not written by this writer).
   */
  static async open(rootIn: string, resumeKey: string): Promise<DatasetFolderWriter> {
    const root = resolve(rootIn);
    const w = new DatasetFolderWriter(root, resumeKey);
    await mkdir(root, { recursive: true });
    const journal = join(root, JOURNAL_FILE);
    let text: string | undefined;
    try {
      text = await readFile(journal, 'utf8');
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      const present = (await readdir(root)).filter(
        (n) => n === MANIFEST_FILE || n === 'images' || n === 'masks',
      );
      if (present.length > 0)
        throw new DatasetResumeError(
          `${root} already holds a dataset (${present.join(', ')}) that this run did not start; write into an empty or new folder`,
        );
      await writeFile(journal, JSON.stringify({ journal: JOURNAL_KIND, version: 1, key: resumeKey }) + '\n');
      return w;
    }
    const lines = text.split('\n');
    let header: Record<string, unknown> | undefined;
    try {
      header = JSON.parse(lines[0]) as Record<string, unknown>;
    } catch {
      header = undefined;
    }
    if (!header || header['journal'] !== JOURNAL_KIND)
      throw new DatasetResumeError(`${journal}: not a dataset journal; write into an empty or new folder`);
    if (header['key'] !== resumeKey)
      throw new DatasetResumeError(
        `${root} was written with other settings (${String(header['key'])}, now ${resumeKey}); use another folder or delete this one`,
      );
    const items = new Map<string, JournalItem>();
    for (const line of lines.slice(1)) {
      if (!line.trim()) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line cut short by an interruption: its item is simply redone
      }
      if (rec['item']) {
        const it = rec['item'] as JournalItem;
        items.set(it.entry.id, it);
      } else if (typeof rec['source'] === 'string' && Array.isArray(rec['ids'])) {
        w.sources.set(rec['source'], rec['ids'] as string[]);
      }
    }
    for (const [id, it] of items) if (await w.verify(it)) w.complete.set(id, it.entry);
    return w;
  }

  private async verify(it: JournalItem): Promise<boolean> {
    for (const [rel, hash] of Object.entries(it.sha256)) {
      try {
        if (sha256(await readFile(join(this.root, rel))) !== hash) return false;
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The item's files are all on disk and match the journal. */
  isComplete(id: string): boolean {
    return this.complete.has(id);
  }

  entryOf(id: string): DatasetItemEntry | undefined {
    return this.complete.get(id);
  }

  /** Ids recorded for a finished source (e.g. one NIfTI pair), if all of them are complete. */
  sourceItems(key: string): string[] | undefined {
    const ids = this.sources.get(key);
    return ids && ids.every((id) => this.complete.has(id)) ? ids : undefined;
  }

  async writeItem(item: ItemToWrite): Promise<DatasetItemEntry> {
    if (!isSafeName(item.id))
      throw new DatasetOptionsError(`item id '${item.id}' must be letters, digits, '.', '-' or '_'`);
    const { width, height } = item.image;
    if (item.masks.length === 0) throw new DatasetOptionsError(`item ${item.id} has no masks`);
    const files: [string, Uint8Array][] = [[imagePathFor(item.id), encodeImagePng(item.image)]];
    const masks: DatasetItemEntry['masks'] = [];
    for (const m of item.masks) {
      if (!isSafeName(m.className))
        throw new DatasetOptionsError(`class name '${m.className}' must be letters, digits, '.', '-' or '_'`);
      if (m.data.length !== width * height)
        throw new DatasetOptionsError(
          `item ${item.id}: mask ${m.className} has ${m.data.length} pixels, image has ${width}×${height}`,
        );
      const path = maskPathFor(item.id, m.className);
      files.push([path, encodeMaskPng(m.data, width, height)]);
      masks.push({ classId: m.classId, path });
    }
    const hashes: Record<string, string> = {};
    for (const [rel, bytes] of files) {
      await writeFileAtomic(join(this.root, rel), bytes);
      hashes[rel] = sha256(bytes);
    }
    const entry: DatasetItemEntry = { id: item.id, image: imagePathFor(item.id), masks, split: item.split };
    await appendFile(
      join(this.root, JOURNAL_FILE),
      JSON.stringify({ item: { entry, sha256: hashes } }) + '\n',
    );
    this.complete.set(item.id, entry);
    return entry;
  }

  /** Records that a source is fully imported as these items (so a resumed import can skip reading it). */
  async markSource(key: string, ids: readonly string[]): Promise<void> {
    await appendFile(join(this.root, JOURNAL_FILE), JSON.stringify({ source: key, ids }) + '\n');
    this.sources.set(key, [...ids]);
  }

  /** Writes manifest.json listing `ids` in this order; each must be complete. */
  async finish(header: DatasetHeader, ids: readonly string[]): Promise<DatasetManifest> {
    const items = ids.map((id) => {
      const e = this.complete.get(id);
      if (!e) throw new Error(`internal: item ${id} was not written before finish()`);
      return e;
    });
    const manifest: DatasetManifest = {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      name: header.name,
      modality: header.modality,
      domain: header.domain,
      ...(header.seed !== undefined ? { seed: header.seed } : {}),
      classes: header.classes,
      items,
    };
    await writeFileAtomic(join(this.root, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }
}

/** Writes a whole dataset in one go (a fresh folder; resumes if the same name was being written). */
export async function writeDatasetFolder(
  root: string,
  header: DatasetHeader,
  items: Iterable<ItemToWrite>,
  onProgress?: (done: number) => void,
): Promise<DatasetManifest> {
  const w = await DatasetFolderWriter.open(root, `dataset:${header.name}`);
  const ids: string[] = [];
  for (const it of items) {
    await w.writeItem(it);
    ids.push(it.id);
    onProgress?.(ids.length);
  }
  return w.finish(header, ids);
}
