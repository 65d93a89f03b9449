/**
 * Writes the synthetic domains as dataset folders (docs/data-format.md), one folder per domain, with a
 * preview.png per domain and an overview.png of all of them. Interrupt it any time; the same command
 * continues where it stopped (finished items are verified and skipped).
 *
 *   npx tsx scripts/generate-domains.ts --out data/synthetic [--domains seen|unseen|all|a,b] [--count 64]
 *       [--size 256] [--seed 1] [--splits 0.7,0.15,0.15] [--no-preview] [--help]
 *
 * The first Ctrl-C / SIGTERM finishes the current item and stops (130); a second one quits at once.
 * Exit codes: 0 done, 1 internal error, 2 usage error, 3 the output folder holds something else,
 * 130 interrupted (resumable).
 */
import { join, resolve } from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { DatasetOptionsError, DatasetResumeError, encodeRgbPng } from '@casam/casam-core';
import {
  CliUsageError,
  DOMAIN_NAMES,
  UNSEEN_DOMAIN_NAMES,
  UnknownDomainError,
  contactSheet,
  domainInfo,
  generateDomain,
  parseCliArgs,
  stopOnSignal,
  writeDomainFolder,
} from '@casam/casam-lab';
import { EXIT_CODES } from '@casam/protocol';

const USAGE = `usage: generate-domains --out <dir> [options]
  --out DIR              output folder, one dataset folder per domain (required)
  --domains LIST         seen | unseen | all (default) | name,name…
  --count N              items per domain (default 64)
  --size PX              image side in pixels (default 256)
  --seed S               generator seed (default 1)
  --splits T,V,E         train,val,test fractions (default 0.7,0.15,0.15)
  --no-preview           write no preview.png per domain and no overview.png
  --help, -h             print this text`;

interface Args {
  splits?: { train: number; val: number; test: number };
  out: string;
  domains: string[];
  count: number;
  size: number;
  seed: number;
  preview: boolean;
}

function int(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new CliUsageError(`--${flag} needs a non-negative integer, got ${v}`);
  return Number(v);
}

function parseOptions(argv: string[]): Args {
  const v = parseCliArgs(
    USAGE,
    {
      out: { type: 'string' },
      domains: { type: 'string' },
      count: { type: 'string', default: '64' },
      size: { type: 'string', default: '256' },
      seed: { type: 'string', default: '1' },
      splits: { type: 'string' },
      'no-preview': { type: 'boolean', default: false },
    },
    { argv },
  );
  if (!v.out) throw new CliUsageError(v.out === undefined ? '--out is required' : '--out needs a folder');
  let domains = [...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES];
  if (v.domains !== undefined) {
    if (!v.domains) throw new CliUsageError('--domains needs a list');
    const sets: Record<string, readonly string[]> = {
      seen: DOMAIN_NAMES,
      unseen: UNSEEN_DOMAIN_NAMES,
      all: [...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES],
    };
    domains = [...new Set(v.domains.split(',').flatMap((d) => sets[d.trim()] ?? [d.trim()]))].filter(Boolean);
    for (const d of domains) domainInfo(d); // unknown names fail here, listing the known ones
  }
  let splits: Args['splits'];
  if (v.splits !== undefined) {
    const p = v.splits.split(',').map(Number);
    if (p.length !== 3 || p.some((x) => !Number.isFinite(x)))
      throw new CliUsageError(`--splits needs three fractions like 0.7,0.15,0.15, got ${v.splits}`);
    splits = { train: p[0], val: p[1], test: p[2] };
  }
  return {
    out: v.out,
    domains,
    count: int('count', v.count),
    size: int('size', v.size),
    seed: int('seed', v.seed),
    ...(splits ? { splits } : {}),
    preview: !v['no-preview'],
  };
}

async function main(): Promise<number> {
  const args = parseOptions(process.argv.slice(2));
  const out = resolve(args.out);
  const stop = stopOnSignal('finishing the current item (Ctrl-C again to quit now)');
  const tty = process.stdout.isTTY === true;
  for (const name of args.domains) {
    const t0 = Date.now();
    let lastPct = -1;
    const r = await writeDomainFolder(join(out, name), name, {
      count: args.count,
      size: args.size,
      seed: args.seed,
      ...(args.splits ? { splits: args.splits } : {}),
      preview: args.preview,
      shouldStop: () => stop.signal.aborted,
      onProgress: (p) => {
        const pct = Math.floor((100 * p.done) / p.total);
        if (tty) process.stdout.write(`\r${name}: ${p.done}/${p.total} (${p.skipped} already done)   `);
        else if (pct >= lastPct + 25 || p.done === p.total) {
          lastPct = pct;
          console.log(`${name}: ${p.done}/${p.total} (${p.skipped} already done)`);
        }
      },
    });
    if (tty) process.stdout.write('\n');
    if (!r.finished) {
      console.log(`stopped in ${name}; run the same command again to resume`);
      return EXIT_CODES.interrupted;
    }
    const ms = Date.now() - t0;
    const info = domainInfo(name);
    console.log(
      `✓ ${name}${info.unseen ? ' (unseen)' : ''}: ${r.written} written, ${r.skipped} verified and kept, ` +
        `${(ms / 1000).toFixed(1)} s${r.written ? ` (${(ms / r.written).toFixed(0)} ms/item incl. PNG${args.preview ? ' and preview' : ''})` : ''}`,
    );
  }
  if (args.preview && args.count > 0) {
    // One row per domain, the first four items, mask outlines on: to eyeball that domains look distinct.
    const rows = args.domains.flatMap((name) =>
      generateDomain(name, { count: Math.min(4, args.count), size: args.size, seed: args.seed }).map(
        (it) => ({
          image: it.image,
          masks: it.masks.map((m) => ({ classIndex: m.classId - 1, data: m.data })),
        }),
      ),
    );
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, 'overview.png'),
      encodeRgbPng(contactSheet(rows, { columns: Math.min(4, args.count), thumb: 96 })),
    );
    console.log(`overview: ${join(out, 'overview.png')}`);
  }
  return EXIT_CODES.ok;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof CliUsageError || e instanceof UnknownDomainError || e instanceof DatasetOptionsError) {
      console.error(`generate-domains: ${(e as Error).message}\n${USAGE}`);
      process.exit(EXIT_CODES.usage);
    }
    if (e instanceof DatasetResumeError) {
      console.error(`generate-domains: ${e.message}`);
      process.exit(EXIT_CODES.input);
    }
    console.error(e);
    process.exit(EXIT_CODES.internal);
  },
);
