/**
 * `npm run prepare:real-corpus` — collects the real images the embedded model's pretraining mixes in
 * (libs/casam-lab/src/pretrain/real-corpus.ts) from Debian packages, and writes them as one safetensors file
 * (uint8 [H,W,C] per image) plus a provenance manifest (package, version, file, sha256, licence).
 *
 *   apt-get install insighttoolkit5-examples python3-skimage python3-dipy python3-nibabel
 *   npm run prepare:real-corpus -- [--root /] [--out models/casam-small-r1/real-corpus.safetensors]
 *
 * Only files from these packages are read, and never `mricron-data` (reserved for independent evaluation).
 * Volumes held out for `bench:real` (ITK's KmeansTest T1 volume and its labels, InVesalius' Cranium CT) are
 * deliberately not in this list. Exit codes: 0 done, 2 usage, 3 a listed source is missing or unreadable.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { HostTensor, decodeImage, readNifti, writeSafetensors } from '@casam/casam-core';
import { EXIT_CODES } from '@casam/protocol';

interface Source {
  pkg: string;
  path: string;
  licence: string;
  /** For volumes: the axes to slice along and the slice step. */
  slices?: { axes: (0 | 1 | 2)[]; step: number };
}

const ITK = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
const SKI = '/usr/lib/python3/dist-packages/skimage/data';
const DIPY = '/usr/lib/python3/dist-packages/dipy/data/files';
const NIB = '/usr/lib/python3/dist-packages/nibabel/tests/data';
const ITK_LIC = 'Apache-2.0 (ITK example data, debian/copyright of insighttoolkit5)';
const SKI_LIC = 'CC0 / public domain, per image in skimage/data/_fetchers.py';

export const SOURCES: Source[] = [
  ...['BrainProtonDensitySlice.png', 'BrainT1Slice.png', 'BrainMidSagittalSlice.png', 'FatMRISlice.png'].map(
    (f) => ({ pkg: 'insighttoolkit5-examples', path: `${ITK}/${f}`, licence: ITK_LIC }),
  ),
  { pkg: 'python3-dipy', path: `${DIPY}/t1_coronal_slice.npy`, licence: 'BSD-3-Clause (dipy)' },
  {
    pkg: 'python3-dipy',
    path: `${DIPY}/S0_10slices.nii.gz`,
    licence: 'BSD-3-Clause (dipy)',
    slices: { axes: [2], step: 1 },
  },
  {
    pkg: 'python3-nibabel',
    path: `${NIB}/example4d.nii.gz`,
    licence: 'MIT (nibabel test data)',
    slices: { axes: [2], step: 1 },
  },
  {
    pkg: 'python3-nibabel',
    path: `${NIB}/anatomical.nii`,
    licence: 'MIT (nibabel test data)',
    slices: { axes: [0, 1, 2], step: 3 },
  },
  ...[
    'camera.png',
    'coins.png',
    'cell.png',
    'moon.png',
    'astronaut.png',
    'chelsea.png',
    'coffee.png',
    'retina.jpg',
    'ihc.png',
    'microaneurysms.png',
    'hubble_deep_field.jpg',
    'rocket.jpg',
    'horse.png',
    'brick.png',
    'grass.png',
    'gravel.png',
    'text.png',
    'page.png',
    'phantom.png',
  ].map((f) => ({ pkg: 'python3-skimage', path: `${SKI}/${f}`, licence: SKI_LIC })),
];

class SourceError extends Error {}

/** A little-endian float64/float32/uint8 2-D .npy array (what dipy ships) as floats. */
function readNpy(buf: Buffer, name: string): { width: number; height: number; data: Float64Array } {
  if (buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY')
    throw new SourceError(`${name}: not a .npy file`);
  const hlen = buf[6] === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = buf[6] === 1 ? 10 : 12;
  const header = buf.subarray(start, start + hlen).toString('latin1');
  const descr = /'descr': '([<|]?)(f8|f4|u1)'/.exec(header)?.[2];
  const shape = /'shape': \((\d+), (\d+)\)/.exec(header);
  if (!descr || !shape || /'fortran_order': True/.test(header))
    throw new SourceError(`${name}: unsupported .npy header ${header.trim()}`);
  const [h, w] = [Number(shape[1]), Number(shape[2])];
  const off = start + hlen;
  const data = new Float64Array(w * h);
  for (let i = 0; i < data.length; i++)
    data[i] =
      descr === 'f8'
        ? buf.readDoubleLE(off + 8 * i)
        : descr === 'f4'
          ? buf.readFloatLE(off + 4 * i)
          : buf[off + i];
  return { width: w, height: h, data };
}

/** Windows floats to 8 bits at the 0.5/99.5 percentiles of the non-background values. */
function toU8(values: ArrayLike<number>): Uint8Array | null {
  const sorted = Float64Array.from(values).sort();
  const lo = sorted[Math.floor(sorted.length * 0.005)];
  const hi = sorted[Math.floor(sorted.length * 0.995)];
  if (!(hi > lo)) return null;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = Math.max(0, Math.min(255, Math.round((255 * (values[i] - lo)) / (hi - lo))));
  // Mostly empty (background) slices teach nothing.
  let bright = 0;
  for (const v of out) if (v > 25) bright++;
  return bright > 0.15 * out.length ? out : null;
}

interface Image {
  id: string;
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

function imagesOf(src: Source, file: string, buf: Buffer): Image[] {
  const base = src.path.split('/').pop()!;
  if (/\.(png|jpg)$/.test(base)) {
    const img = decodeImage(new Uint8Array(buf), file);
    let grey = true;
    for (let i = 0; i < img.data.length && grey; i += 3)
      grey = img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2];
    if (!grey) return [{ id: base, width: img.width, height: img.height, channels: 3, data: img.data }];
    const g = new Uint8Array(img.width * img.height);
    for (let i = 0; i < g.length; i++) g[i] = img.data[3 * i];
    return [{ id: base, width: img.width, height: img.height, channels: 1, data: g }];
  }
  if (base.endsWith('.npy')) {
    const a = readNpy(buf, file);
    const u8 = toU8(a.data);
    return u8 ? [{ id: base, width: a.width, height: a.height, channels: 1, data: u8 }] : [];
  }
  const vol = readNifti(new Uint8Array(buf), file);
  const [nx, ny, nz] = vol.dims;
  const out: Image[] = [];
  for (const axis of src.slices?.axes ?? [2]) {
    const n = vol.dims[axis];
    const [w, h] = axis === 0 ? [ny, nz] : axis === 1 ? [nx, nz] : [nx, ny];
    if (w < 32 || h < 32) continue;
    for (let s = 0; s < n; s += src.slices?.step ?? 1) {
      const vals = new Float64Array(w * h);
      for (let v = 0; v < h; v++)
        for (let u = 0; u < w; u++) {
          const [i, j, k] = axis === 0 ? [s, u, v] : axis === 1 ? [u, s, v] : [u, v, s];
          // Rows from the top: flip the second in-plane axis (NIfTI's j/k grow upwards).
          vals[(h - 1 - v) * w + u] = vol.data[i + nx * (j + ny * k)];
        }
      const u8 = toU8(vals);
      if (u8) out.push({ id: `${base}:axis${axis}:${s}`, width: w, height: h, channels: 1, data: u8 });
    }
  }
  return out;
}

/** The installed package's version, or (for an unpacked tree under --root) its Debian changelog's first entry. */
function packageVersion(pkg: string, root: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    const log = join(root, 'usr/share/doc', pkg, 'changelog.Debian.gz');
    const first = existsSync(log) ? gunzipSync(readFileSync(log)).toString('utf8').split('\n')[0] : '';
    return /\(([^)]+)\)/.exec(first)?.[1] ?? 'unknown';
  }
}

function main(): number {
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: '/' },
      out: { type: 'string', default: 'models/casam-small-r1/real-corpus.safetensors' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run prepare:real-corpus -- [--root /] [--out models/casam-small-r1/real-corpus.safetensors]',
    );
    return EXIT_CODES.ok;
  }
  const root = resolve(values.root!);
  const out = resolve(values.out!);
  const images: Image[] = [];
  const provenance: Record<string, unknown>[] = [];
  const missing = SOURCES.filter((s) => !existsSync(join(root, s.path)));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((s) => s.pkg))].join(' ');
    console.error(
      `prepare-real-corpus: ${missing.length} source files missing under ${root}; apt-get install ${pkgs}`,
    );
    return EXIT_CODES.input;
  }
  for (const src of SOURCES) {
    if (/mricron/i.test(src.pkg + src.path))
      throw new Error('mricron-data is reserved for independent evaluation');
    const file = join(root, src.path);
    const buf = readFileSync(file);
    const got = imagesOf(src, file, buf);
    images.push(...got);
    provenance.push({
      package: src.pkg,
      version: packageVersion(src.pkg, root),
      file: src.path,
      sha256: createHash('sha256').update(buf).digest('hex'),
      licence: src.licence,
      images: got.length,
    });
    console.log(`${src.path}: ${got.length} image${got.length === 1 ? '' : 's'}`);
  }
  const tensors: [string, HostTensor][] = images.map((im) => [
    im.id,
    { dtype: 'uint8', shape: [im.height, im.width, im.channels], data: im.data },
  ]);
  const bytes = writeSafetensors(tensors, { format: 'casam-real-corpus/1' });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  const sha = createHash('sha256').update(bytes).digest('hex');
  const manifest = {
    format: 'casam-real-corpus/1',
    file: out.split('/').pop(),
    sha256: sha,
    images: images.length,
    sources: provenance,
  };
  writeFileSync(out.replace(/\.safetensors$/, '.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`wrote ${out}: ${images.length} images, ${bytes.length} bytes, sha256 ${sha}`);
  return EXIT_CODES.ok;
}

try {
  process.exit(main());
} catch (e) {
  if (e instanceof SourceError || (e instanceof Error && /Nifti|ImageDecode/.test(e.name))) {
    console.error(`prepare-real-corpus: ${e.message}`);
    process.exit(EXIT_CODES.input);
  }
  throw e;
}
