import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetOptionsError } from './dataset-format';
import { readDatasetFolder } from './dataset-reader';
import { DatasetFolderWriter, DatasetResumeError, ItemToWrite, JOURNAL_FILE } from './dataset-writer';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'casam-wr-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const item = (i: number): ItemToWrite => {
  const data = new Uint8Array(8 * 8 * 3).map((_, k) => (k * 7 + i * 13) & 255);
  const mask = new Uint8Array(64).map((_, k) => (k % 8 > i % 4 ? 1 : 0));
  return {
    id: `it${i}`,
    split: 'train',
    image: { width: 8, height: 8, data },
    masks: [{ classId: 1, className: 'a', data: mask }],
  };
};
const header = { name: 'w', modality: 'MR', domain: 'w', classes: [{ id: 1, name: 'a' }] };

describe('DatasetFolderWriter', () => {
  it('resumes: verified items are kept, damaged or unfinished ones are redone', async () => {
    const root = tmp();
    const w1 = await DatasetFolderWriter.open(root, 'k1');
    for (let i = 0; i < 3; i++) await w1.writeItem(item(i));
    // Simulate an interruption: a half-written journal line and a damaged file.
    appendFileSync(join(root, JOURNAL_FILE), '{"item": {"entry": {"id": "it3"');
    writeFileSync(join(root, 'masks/it1__a.png'), 'damaged');
    const w2 = await DatasetFolderWriter.open(root, 'k1');
    expect([0, 1, 2, 3].map((i) => w2.isComplete(`it${i}`))).toEqual([true, false, true, false]);
    const before = statSync(join(root, 'images/it0.png')).mtimeMs;
    for (let i = 0; i < 4; i++) if (!w2.isComplete(`it${i}`)) await w2.writeItem(item(i));
    await w2.finish(header, ['it0', 'it1', 'it2', 'it3']);
    expect(statSync(join(root, 'images/it0.png')).mtimeMs).toBe(before);
    const idx = await readDatasetFolder(root);
    expect(idx.problems).toEqual([]);
    expect(idx.items.map((x) => x.id)).toEqual(['it0', 'it1', 'it2', 'it3']);
  });

  it('refuses to mix settings or to write over a folder it did not start', async () => {
    const root = tmp();
    await DatasetFolderWriter.open(root, 'seed=1');
    await expect(DatasetFolderWriter.open(root, 'seed=2')).rejects.toThrow(/other settings.*seed=1.*seed=2/);
    const foreign = tmp();
    mkdirSync(join(foreign, 'images'));
    await expect(DatasetFolderWriter.open(foreign, 'k')).rejects.toThrow(DatasetResumeError);
    const bogus = tmp();
    writeFileSync(join(bogus, JOURNAL_FILE), 'not json\n');
    await expect(DatasetFolderWriter.open(bogus, 'k')).rejects.toThrow(/not a dataset journal/);
  });

  it('validates what it writes', async () => {
    const w = await DatasetFolderWriter.open(tmp(), 'k');
    await expect(w.writeItem({ ...item(0), id: '../evil' })).rejects.toThrow(DatasetOptionsError);
    await expect(w.writeItem({ ...item(0), masks: [] })).rejects.toThrow(/no masks/);
    await expect(
      w.writeItem({ ...item(0), masks: [{ classId: 1, className: 'a', data: new Uint8Array(3) }] }),
    ).rejects.toThrow(/3 pixels/);
    await expect(w.finish(header, ['missing'])).rejects.toThrow(/not written/);
  });

  it('records finished sources so an import can skip them', async () => {
    const root = tmp();
    const w = await DatasetFolderWriter.open(root, 'k');
    await w.writeItem(item(0));
    await w.markSource('case-a', ['it0']);
    const again = await DatasetFolderWriter.open(root, 'k');
    expect(again.sourceItems('case-a')).toEqual(['it0']);
    rmSync(join(root, 'images/it0.png'));
    expect((await DatasetFolderWriter.open(root, 'k')).sourceItems('case-a')).toBeUndefined();
    expect(readFileSync(join(root, JOURNAL_FILE), 'utf8').split('\n')[0]).toContain('casam-dataset-journal');
  });
});
