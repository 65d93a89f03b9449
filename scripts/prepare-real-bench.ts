/**
 * `npm run prepare:real-bench` — reads the real labelled volumes of `bench:real` from installed Debian packages
 * (bench/real/data.ts lists them) and writes the slice cache (uint8 images and 0/1 masks at the model's input
 * size; not in git) plus a provenance manifest (package, version, file, sha256, licence, label kind, kept
 * slices, checks) that is committed.
 *
 *   apt-get install insighttoolkit5-examples invesalius-examples
 *   npm run prepare:real-bench -- [--root /] [--size 256] [--min-pixels 64]
 *        [--out bench/results/.real-work/real-slices.safetensors] [--manifest bench/results/real-data.json]
 *
 * `mricron-data` and Colin27 / AAL atlas data are never read. Exit codes: 0 done, 2 usage, 3 a package is
 * missing (the message names the apt-get install) or a file is unreadable.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT_CODES } from '@casam/protocol';
import { RealDataError, prepareRealBench } from '@casam/casam-lab';

export const DEFAULT_CACHE = 'bench/results/.real-work/real-slices.safetensors';
export const DEFAULT_MANIFEST = 'bench/results/real-data.json';
const CORPUS_MANIFEST = 'models/casam-small-r1/real-corpus.json';

const USAGE =
  'usage: npm run prepare:real-bench -- [--root /] [--size 256] [--min-pixels 64] [--out <cache.safetensors>] [--manifest <real-data.json>]';

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        root: { type: 'string', default: '/' },
        size: { type: 'string', default: '256' },
        'min-pixels': { type: 'string', default: '64' },
        out: { type: 'string', default: DEFAULT_CACHE },
        manifest: { type: 'string', default: DEFAULT_MANIFEST },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`prepare-real-bench: ${(e as Error).message}\n${USAGE}`);
    return EXIT_CODES.usage;
  }
  if (values.help) {
    console.log(USAGE);
    return EXIT_CODES.ok;
  }
  const size = Number(values.size);
  const minPixels = Number(values['min-pixels']);
  if (!Number.isInteger(size) || size < 32 || size > 4096 || !Number.isInteger(minPixels) || minPixels < 1) {
    console.error(`prepare-real-bench: --size must be an integer 32..4096 and --min-pixels ≥ 1\n${USAGE}`);
    return EXIT_CODES.usage;
  }
  const out = resolve(values.out!);
  const { bytes, manifest } = prepareRealBench({
    root: resolve(values.root!),
    size,
    minPixels,
    corpusManifest: CORPUS_MANIFEST,
    log: (s) => console.log(s),
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  const mpath = resolve(values.manifest!);
  mkdirSync(dirname(mpath), { recursive: true });
  writeFileSync(mpath, JSON.stringify({ ...manifest, cache: values.out }, null, 2) + '\n');
  console.log(
    `wrote ${values.out} (${bytes.length} bytes, sha256 ${manifest.sha256}) and ${values.manifest}`,
  );
  return EXIT_CODES.ok;
}

if (require.main === module) {
  try {
    process.exit(main());
  } catch (e) {
    if (e instanceof RealDataError || (e instanceof Error && /Nifti/.test(e.name))) {
      console.error(`prepare-real-bench: ${e.message}`);
      process.exit(EXIT_CODES.input);
    }
    throw e;
  }
}
