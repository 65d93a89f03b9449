/**
 * bench:sam's export table: wall time and file size of exportSamOnnx (image encoder + prompt decoder) per
 * preset, with seeded random weights of the official shapes. vit_l / vit_h only when the machine has the
 * memory for them (weights + the serialised graph + slack), else skipped with a note.
 */
import { readFileSync, statSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { expectedStateDict, exportSamOnnx, getPreset, randomSamStateDict } from '@casam/casam-core';

export interface ExportRow {
  preset: string;
  params: number;
  /** exportSamOnnx wall time: build, serialise and write both graphs and the manifest. */
  exportMs: number | null;
  encoderBytes: number | null;
  decoderBytes: number | null;
  encoderPath?: string;
  decoderPath?: string;
  note?: string;
}

/** MemAvailable from /proc/meminfo (os.freemem() leaves out the page cache the kernel would give back). */
export function availableMemoryBytes(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return freemem();
}

function fileBytes(dir: string, f: { file: string; externalData?: { file: string } }): number {
  const side = f.externalData ? statSync(join(dir, f.externalData.file)).size : 0;
  return statSync(join(dir, f.file)).size + side;
}

/** Bytes held at the peak of an export, as a multiple of the float32 weights (measured: about 3×; 4 for slack). */
const MEMORY_FACTOR = 4;

export function measureExport(
  preset: string,
  dir: string,
  seed: number,
  log: (l: string) => void,
): ExportRow {
  const cfg = getPreset(preset);
  const params = expectedStateDict(cfg).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  const need = params * 4 * MEMORY_FACTOR;
  const avail = availableMemoryBytes();
  if (need > avail) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(1);
    const note = `skipped: needs about ${gib(need)} GiB, ${gib(avail)} GiB available`;
    log(`  export ${preset}: ${note}`);
    return { preset, params, exportMs: null, encoderBytes: null, decoderBytes: null, note };
  }
  const sd = randomSamStateDict(cfg, seed);
  const out = join(dir, preset);
  const t0 = performance.now();
  // A fixed fingerprint: hashing the weights (seconds for vit_h) is the cache's cost, not the exporter's.
  const m = exportSamOnnx(out, cfg, sd, { modelFingerprint: `bench-seed-${seed}` });
  const exportMs = performance.now() - t0;
  const row: ExportRow = {
    preset,
    params,
    exportMs,
    encoderBytes: fileBytes(out, m.encoder),
    decoderBytes: fileBytes(out, m.decoder),
    encoderPath: join(out, m.encoder.file),
    decoderPath: join(out, m.decoder.file),
  };
  log(
    `  export ${preset}: ${(exportMs / 1000).toFixed(1)} s, encoder ${(row.encoderBytes! / 1e6).toFixed(1)} MB`,
  );
  return row;
}
