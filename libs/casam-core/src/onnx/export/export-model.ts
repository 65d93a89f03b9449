/**
 * Exports every graph of a model into one folder with a manifest, so a later step can cache exports by model
 * fingerprint + exporter version and reuse them instead of exporting on every start:
 *
 *   <dir>/image-encoder.onnx        input `image` → `image_embeddings`
 *   <dir>/prompt-decoder.onnx       the official SamOnnxModel signature
 *   <dir>/align-<i>-<name>.onnx     one per Alignment Layer given
 *   <dir>/<file>.data               side files, only for weights above AUTO_EXTERNAL_BYTES (vit_h)
 *   <dir>/onnx-export.json          the manifest, written last: a folder without it is an unfinished export
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SamConfig } from '../../sam/config';
import { StateDict } from '../../tensor/host-tensor';
import { stateDictFingerprint } from '../../weights/fingerprint';
import { exportAlignmentLayerOnnx } from './align-graph';
import { exportPromptDecoderOnnx } from './decoder-graph';
import { exportImageEncoderOnnx } from './encoder-graph';
import { ONNX_IR_VERSION, ONNX_OPSET, SerializedModel, writeOnnxModel } from './onnx-builder';

/**
 * Version of the graphs this exporter writes. Bump it whenever any graph changes (ops, layout, numerics), so
 * cached exports made by an older exporter are no longer taken for current ones. (2: the encoder's attention
 * runs one fused qkv Gemm + Split instead of three projections. 3: position-major windows, softmax scale folded
 * into the q weights, small rel-pos terms in the logits MatMul instead of broadcast Adds, the patch embedding
 * as a Gemm, 2-D token rows, the encoder neck's LayerNorm2d as LayerNormalization. 4: casam-small's global
 * attention as ONNX Runtime's MultiHeadAttention with the summed rel-pos bias. 5: the Alignment Layer's and the
 * decoder's LayerNorm2d as LayerNormalization on channels-last.)
 */
export const ONNX_EXPORTER_VERSION = '5';

export const ONNX_MANIFEST_FILE = 'onnx-export.json';
const MANIFEST_FORMAT = 'casam-onnx-export';

export interface OnnxExportedFile {
  /** File name inside the export folder. */
  file: string;
  bytes: number;
  sha256: string;
  /** The weights' side file, when the weights did not go inline. */
  externalData?: { file: string; bytes: number; sha256: string };
  /** Wall time of building and serialising the graph. */
  exportMs: number;
}

export interface OnnxExportManifest {
  format: typeof MANIFEST_FORMAT;
  exporterVersion: string;
  irVersion: number;
  opset: number;
  preset: string;
  /** sha256 of the preset config (canonical JSON): the same weights under another preset give other graphs. */
  configFingerprint: string;
  /** stateDictFingerprint of the SAM weights the graphs were built from. */
  modelFingerprint: string;
  createdAt: string;
  encoder: OnnxExportedFile;
  decoder: OnnxExportedFile;
  alignmentLayers: (OnnxExportedFile & { name: string; channels: number; fingerprint: string })[];
}

export interface AlignmentLayerToExport {
  /** A label (e.g. the task name); only used in the file name and the manifest. */
  name: string;
  channels: number;
  /** The layer's state dict (`blocks.{i}.conv1.weight`, …; PyTorch layout). */
  stateDict: StateDict;
}

export interface ExportSamOnnxOptions {
  alignmentLayers?: readonly AlignmentLayerToExport[];
  /** stateDictFingerprint(sd) when the caller has it already (hashing vit_h takes seconds). */
  modelFingerprint?: string;
  /** Clock for `createdAt` (tests). */
  now?: () => Date;
}

/** Canonical JSON (sorted keys) → sha256, so key order never changes the fingerprint. */
export function configFingerprint(cfg: SamConfig): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return (
    'sha256:' +
    createHash('sha256')
      .update(JSON.stringify(canon(cfg)))
      .digest('hex')
  );
}

function sha256(chunks: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

function safeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return s.slice(0, 64) || 'layer';
}

function save(dir: string, file: string, make: (sideFile: string) => SerializedModel): OnnxExportedFile {
  const t0 = performance.now();
  const m = make(`${file}.data`);
  const exportMs = performance.now() - t0;
  const { modelBytes, externalBytes } = writeOnnxModel(join(dir, file), m);
  const out: OnnxExportedFile = { file, bytes: modelBytes, sha256: sha256([m.model]), exportMs };
  if (m.externalData && m.externalDataFile)
    out.externalData = { file: m.externalDataFile, bytes: externalBytes, sha256: sha256(m.externalData) };
  return out;
}

/**
 * Exports the image encoder, the prompt decoder and any Alignment Layers of one model into `dir` (created if
 * needed; files of the same names are replaced) and writes the manifest last. `sd` holds the full SAM weights
 * of `cfg` (official names). Returns the manifest.
 */
export function exportSamOnnx(
  dir: string,
  cfg: SamConfig,
  sd: StateDict,
  opts: ExportSamOnnxOptions = {},
): OnnxExportManifest {
  mkdirSync(dir, { recursive: true });
  const modelFingerprint = opts.modelFingerprint ?? stateDictFingerprint(sd);
  const meta = { modelFingerprint, exporterVersion: ONNX_EXPORTER_VERSION };
  const common = { producerVersion: ONNX_EXPORTER_VERSION, metadata: meta };
  const encoder = save(dir, 'image-encoder.onnx', (side) =>
    exportImageEncoderOnnx(cfg, sd, { ...common, weights: 'auto', externalDataFile: side }),
  );
  const decoder = save(dir, 'prompt-decoder.onnx', (side) =>
    exportPromptDecoderOnnx(cfg, sd, { ...common, weights: 'auto', externalDataFile: side }),
  );
  const alignmentLayers = (opts.alignmentLayers ?? []).map((al, i) => {
    const fingerprint = stateDictFingerprint(al.stateDict);
    const f = save(dir, `align-${i}-${safeName(al.name)}.onnx`, (side) =>
      exportAlignmentLayerOnnx(al.stateDict, {
        channels: al.channels,
        producerVersion: ONNX_EXPORTER_VERSION,
        metadata: { layerFingerprint: fingerprint, exporterVersion: ONNX_EXPORTER_VERSION },
        weights: 'auto',
        externalDataFile: side,
      }),
    );
    return { ...f, name: al.name, channels: al.channels, fingerprint };
  });
  const manifest: OnnxExportManifest = {
    format: MANIFEST_FORMAT,
    exporterVersion: ONNX_EXPORTER_VERSION,
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    preset: cfg.name,
    configFingerprint: configFingerprint(cfg),
    modelFingerprint,
    createdAt: (opts.now ?? (() => new Date()))().toISOString(),
    encoder,
    decoder,
    alignmentLayers,
  };
  // Written last and renamed into place, so a crash mid-export never leaves a manifest for missing files.
  const tmp = join(dir, `${ONNX_MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, join(dir, ONNX_MANIFEST_FILE));
  return manifest;
}

/** The manifest of an export folder, or null when the folder holds no finished export. */
export function readOnnxExportManifest(dir: string): OnnxExportManifest | null {
  const p = join(dir, ONNX_MANIFEST_FILE);
  if (!existsSync(p)) return null;
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null; // an unreadable manifest is an unfinished export: export again
  }
  const o = m as Partial<OnnxExportManifest>;
  if (o?.format !== MANIFEST_FORMAT || !o.encoder?.file || !o.decoder?.file) return null;
  return o as OnnxExportManifest;
}

/**
 * Whether `dir` holds a finished export of exactly these weights under this preset by this exporter version,
 * with every file present at its recorded size (a cheap check; the hashes are there for a full one).
 */
export function isOnnxExportCurrent(dir: string, cfg: SamConfig, modelFingerprint: string): boolean {
  const m = readOnnxExportManifest(dir);
  if (!m) return false;
  if (
    m.exporterVersion !== ONNX_EXPORTER_VERSION ||
    m.modelFingerprint !== modelFingerprint ||
    m.configFingerprint !== configFingerprint(cfg)
  )
    return false;
  const files = [m.encoder, m.decoder, ...(m.alignmentLayers ?? [])].flatMap((f) =>
    f.externalData ? [f, f.externalData] : [f],
  );
  return files.every((f) => {
    try {
      const st = statSync(join(dir, f.file));
      return st.isFile() && st.size === f.bytes;
    } catch {
      return false;
    }
  });
}
