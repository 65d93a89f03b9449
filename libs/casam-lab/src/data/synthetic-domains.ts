/**
 * Synthetic medical-like domains: nine "seen" domains echoing the CA-SAM paper's tasks, in its default
 * order, and unseen ones kept apart to test the router's fallback. Every item is a pure function of
 * (domain, seed, size, index), so sets can grow, be regenerated or resumed and stay byte-identical.
 */
import { join } from 'node:path';
import {
  encodeRgbPng,
  mulberry32,
  DEFAULT_SPLITS,
  DatasetClass,
  DatasetManifest,
  DatasetOptionsError,
  DatasetSplit,
  SplitFractions,
  datasetHash32,
  sequenceSplit,
  validateSplitFractions,
  DatasetFolderWriter,
  ItemToWrite,
  writeFileAtomic,
} from '@casam/casam-core';
import { contactSheet } from './contact-sheet';
import { countMask } from './draw';
import { acdcCardiacMr } from './scenes/acdc-cardiac-mr.scene';
import { breastUltrasoundLesion } from './scenes/breast-ultrasound-lesion.scene';
import { ebhiColonPathology } from './scenes/ebhi-colon-pathology.scene';
import { kidney56nxGlomerulus } from './scenes/kidney-56nx-glomerulus.scene';
import { kidneyDnGlomerulus } from './scenes/kidney-dn-glomerulus.scene';
import { msdProstateZones } from './scenes/msd-prostate-zones.scene';
import { msdSpleenCt } from './scenes/msd-spleen-ct.scene';
import { opticDiscFundus } from './scenes/optic-disc-fundus.scene';
import { polypEndoscopy } from './scenes/polyp-endoscopy.scene';
import { promise12ProstateMr } from './scenes/promise12-prostate-mr.scene';
import { DomainDefinition } from './scenes/scene';
import { skinLesionDermoscopy } from './scenes/skin-lesion-dermoscopy.scene';
import { stsDentalXray } from './scenes/sts-dental-xray.scene';

/** Bump when any scene changes what it draws: resumed folders of an older version are then refused. */
export const GENERATOR_VERSION = 1;

const SEEN: readonly DomainDefinition[] = [
  acdcCardiacMr,
  ebhiColonPathology,
  kidney56nxGlomerulus,
  kidneyDnGlomerulus,
  polypEndoscopy,
  msdProstateZones,
  msdSpleenCt,
  promise12ProstateMr,
  stsDentalXray,
];
const UNSEEN: readonly DomainDefinition[] = [opticDiscFundus, skinLesionDermoscopy, breastUltrasoundLesion];
const ALL = new Map([...SEEN, ...UNSEEN].map((d) => [d.name, d]));

/** The seen domains in the paper's default task order. */
export const DOMAIN_NAMES: readonly string[] = SEEN.map((d) => d.name);
/** Domains never trained on: for out-of-distribution routing tests. */
export const UNSEEN_DOMAIN_NAMES: readonly string[] = UNSEEN.map((d) => d.name);

export interface DomainInfo {
  name: string;
  modality: string;
  /** Ids 1, 2, … in the order the scene lists them. */
  classes: DatasetClass[];
  description: string;
  unseen: boolean;
}

export class UnknownDomainError extends Error {
  override name = 'UnknownDomainError';
}

function definition(name: string): DomainDefinition {
  const d = ALL.get(name);
  if (!d)
    throw new UnknownDomainError(
      `unknown domain '${name}'; known: ${[...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES].join(', ')}`,
    );
  return d;
}

export function domainInfo(name: string): DomainInfo {
  const d = definition(name);
  return {
    name: d.name,
    modality: d.modality,
    classes: d.classes.map((c, i) => ({ id: i + 1, name: c })),
    description: d.description,
    unseen: d.unseen,
  };
}

export interface GenerateOptions {
  /** Number of items (indices start..start+count−1). */
  count: number;
  /** Image edge in px (square images). Default 256. */
  size?: number;
  seed?: number;
  splits?: SplitFractions;
  /** First item index. Default 0. */
  start?: number;
}

export interface GeneratedItem extends ItemToWrite {
  index: number;
}

interface Resolved {
  size: number;
  seed: number;
  splits: SplitFractions;
}

function resolveOptions(o: { size?: number; seed?: number; splits?: SplitFractions }): Resolved {
  const size = o.size ?? 256;
  if (!Number.isInteger(size) || size < 32 || size > 4096)
    throw new DatasetOptionsError(`size must be an integer from 32 to 4096, got ${size}`);
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new DatasetOptionsError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
  return { size, seed, splits: validateSplitFractions(o.splits ?? DEFAULT_SPLITS) };
}

function checkCount(count: number, start: number): void {
  if (!Number.isInteger(count) || count < 0 || count > 1_000_000)
    throw new DatasetOptionsError(`count must be an integer from 0 to 1000000, got ${count}`);
  if (!Number.isInteger(start) || start < 0)
    throw new DatasetOptionsError(`start must be a non-negative integer, got ${start}`);
}

export function syntheticItemId(domain: string, index: number): string {
  return `${domain}-${String(index).padStart(5, '0')}`;
}

function render(def: DomainDefinition, index: number, r: Resolved): GeneratedItem {
  // A scene may, rarely, leave every target out of frame: redraw from the next derived seed (deterministic).
  for (let attempt = 0; attempt < 8; attempt++) {
    const rng = mulberry32(datasetHash32(`v${GENERATOR_VERSION}:${def.name}:${r.seed}:${index}:${attempt}`));
    const out = def.render(rng, r.size);
    const masks = def.classes
      .map((className, k) => ({ classId: k + 1, className, data: out.masks[className] }))
      .filter((m) => m.data !== undefined && countMask(m.data) > 0);
    if (masks.length > 0) {
      const split: DatasetSplit = sequenceSplit(index, r.seed, r.splits);
      return { id: syntheticItemId(def.name, index), index, split, image: out.image, masks };
    }
  }
  throw new Error(`internal: ${def.name} item ${index} drew no target in 8 attempts`);
}

/** One item of a domain; the same arguments always give the same pixels. */
export function generateItem(
  name: string,
  index: number,
  opts: { size?: number; seed?: number; splits?: SplitFractions } = {},
): GeneratedItem {
  checkCount(1, index);
  return render(definition(name), index, resolveOptions(opts));
}

/** Items start..start+count−1 of a domain, in memory. */
export function generateDomain(name: string, opts: GenerateOptions): GeneratedItem[] {
  const def = definition(name);
  const r = resolveOptions(opts);
  const start = opts.start ?? 0;
  checkCount(opts.count, start);
  const out: GeneratedItem[] = [];
  for (let i = start; i < start + opts.count; i++) out.push(render(def, i, r));
  return out;
}

export interface DomainWriteProgress {
  domain: string;
  /** Items finished so far (written or skipped). */
  done: number;
  total: number;
  /** Of `done`, items found complete and verified from an earlier run. */
  skipped: number;
  id: string;
}

export interface WriteDomainOptions extends GenerateOptions {
  onProgress?: (p: DomainWriteProgress) => void;
  /** Write `preview.png` (a 4×2 contact sheet of the first items with mask outlines). Default true. */
  preview?: boolean;
  /** Checked between items; when it returns true the run stops early (resume later). */
  shouldStop?: () => boolean;
}

export interface DomainWriteResult {
  manifest: DatasetManifest | undefined;
  written: number;
  skipped: number;
  /** False when `shouldStop` ended the run early; the manifest is then not written. */
  finished: boolean;
}

/**
 * Writes items 0..count−1 of a domain as a dataset folder. Items already complete and verified (same domain,
 * seed, size and splits) are skipped, so an interrupted run continues where it stopped and a larger count
 * extends a folder.
 */
export async function writeDomainFolder(
  root: string,
  name: string,
  opts: WriteDomainOptions,
): Promise<DomainWriteResult> {
  const def = definition(name);
  const r = resolveOptions(opts);
  checkCount(opts.count, 0);
  const s = r.splits;
  const key = `synthetic:${name}:v${GENERATOR_VERSION}:size=${r.size}:seed=${r.seed}:splits=${s.train}/${s.val}/${s.test}`;
  const w = await DatasetFolderWriter.open(root, key);
  let written = 0;
  let skipped = 0;
  const ids: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    if (opts.shouldStop?.()) return { manifest: undefined, written, skipped, finished: false };
    const id = syntheticItemId(name, i);
    if (w.isComplete(id)) skipped++;
    else {
      await w.writeItem(render(def, i, r));
      written++;
    }
    ids.push(id);
    opts.onProgress?.({ domain: name, done: i + 1, total: opts.count, skipped, id });
  }
  const info = domainInfo(name);
  const manifest = await w.finish(
    { name, modality: info.modality, domain: name, seed: r.seed, classes: info.classes },
    ids,
  );
  if (opts.preview ?? true) {
    const n = Math.min(8, opts.count);
    const items = [];
    for (let i = 0; i < n; i++) items.push(render(def, i, r));
    const sheet = contactSheet(
      items.map((it) => ({
        image: it.image,
        masks: it.masks.map((m) => ({ classIndex: m.classId - 1, data: m.data })),
      })),
      { columns: 4, thumb: 128 },
    );
    await writeFileAtomic(join(root, 'preview.png'), encodeRgbPng(sheet));
  }
  return { manifest, written, skipped, finished: true };
}
