/**
 * Use case: write the ONNX exports ahead of time (`site-agent export-onnx`), so the first `segment` or `serve`
 * does not pay for them. It runs the same export-on-first-use code as those commands (ensureOnnxBaseExport and
 * ensureOnnxAlignmentLayers, ensureOnnxTaskDecoders: same cache layout, same probe against TF.js), so whatever it writes into a home's
 * `onnx-cache/` is what they look for. From a bare checkpoint the exports go into the folder named by `--out`,
 * laid out as a cache (`segment --checkpoint … --onnx-cache <out>` finds them).
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  buildSam,
  createOnnxSamEngine,
  createTfjsSamEngine,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  ensureOnnxTaskDecoders,
  onnxBaseExportName,
  OnnxExportMismatchError,
  type OnnxBaseExport,
  type SamConfig,
  type SamEngine,
  stateDictFingerprint,
  type StateDict,
} from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { BundleStore } from '../bundle/bundle-store';
import { loadActiveBundle } from '../bundle/installed-bundle';
import type { AgentHome } from '../home/agent-home';
import {
  parseBackendName,
  readCheckpointWeights,
  readHomeWeights,
  startBackend,
} from '../model/engine-factory';

export interface WrittenFile {
  what: string;
  path: string;
  bytes: number;
}

export interface OnnxExportReport {
  cacheRoot: string;
  preset: string;
  modelFingerprint: string;
  base: OnnxBaseExport;
  /** The files in use after the call (written now or found in the cache, see `base.exported`). */
  files: WrittenFile[];
  /**
   * The installed bundle's task graphs (home only): each task's Alignment Layer, and the own decoder (delta
   * merged) of each task with a decoder delta; with whether it was new.
   */
  alignmentLayers: (WrittenFile & { exported: boolean })[];
  /** Wall time of the whole call, loading the weights included. */
  totalMs: number;
}

export interface ExportOptions {
  /** Export again even when the cache holds a checked export (or a remembered rejection). */
  force?: boolean;
}

/** Exports the agent home's base model (and the installed bundle's Alignment Layers) into `<home>/onnx-cache/`. */
export async function exportHomeOnnx(
  home: AgentHome,
  log: (l: string) => void,
  o: ExportOptions = {},
): Promise<OnnxExportReport> {
  const t0 = performance.now();
  const c = home.readConfig();
  await startBackend(c.backend, log);
  const { config, sd } = readHomeWeights(home, c);
  const fingerprint = stateDictFingerprint(sd);
  const cacheRoot = home.onnxCacheDir;
  let reference: SamEngine | undefined;
  const tfjs = () => (reference ??= createTfjsSamEngine(buildSam(config, sd)));
  try {
    const base = await exportBase(cacheRoot, config, sd, fingerprint, tfjs, log, o);
    const alignmentLayers: OnnxExportReport['alignmentLayers'] = [];
    const bundle = await loadActiveBundle(
      new BundleStore(home.bundlesDir),
      home.readState(),
      fingerprint,
      config.outChans,
      log,
    );
    if (bundle) {
      const listing = (sub: string) => {
        const d = join(cacheRoot, sub);
        return new Set(existsSync(d) ? readdirSync(d) : []);
      };
      const before = listing('align');
      const decodersBefore = listing('decoder');
      try {
        const files = await ensureOnnxAlignmentLayers(cacheRoot, config, bundle.adapters, { log });
        for (const [taskId, path] of files)
          alignmentLayers.push({
            what: `Alignment Layer of task ${taskId}`,
            path,
            bytes: statSync(path).size,
            exported: !before.has(basename(path)),
          });
        if (bundle.adapters.some((a) => a.decoderLora)) {
          // Probed beside the base export's ORT engine, like serve does.
          const engine = await createOnnxSamEngine({
            config,
            encoderPath: base.encoderPath,
            decoderPath: base.decoderPath,
          });
          try {
            const decoders = await ensureOnnxTaskDecoders(cacheRoot, config, bundle.adapters, {
              modelFingerprint: fingerprint,
              stateDict: () => sd,
              engine,
              reference: tfjs,
              log,
            });
            for (const [taskId, path] of decoders)
              alignmentLayers.push({
                what: `decoder of task ${taskId}`,
                path,
                bytes: statSync(path).size,
                exported: !decodersBefore.has(basename(path)),
              });
          } finally {
            engine.dispose();
          }
        }
      } catch (e) {
        if (e instanceof OnnxExportMismatchError) throw new UserError(e.message, EXIT.model);
        throw e;
      } finally {
        for (const a of bundle.adapters) {
          a.align.dispose();
          a.vae.dispose();
          a.decoderLora?.dispose();
        }
      }
    } else
      log('no router bundle installed: only the base model is exported (run again after site-agent pull)');
    return report(cacheRoot, config, fingerprint, base, alignmentLayers, t0);
  } finally {
    reference?.dispose();
  }
}

/** Exports a checkpoint's graphs into `out`, laid out as an export cache. */
export async function exportCheckpointOnnx(
  f: { model: string; checkpoint: string; backend?: string },
  out: string,
  log: (l: string) => void,
  o: ExportOptions = {},
): Promise<OnnxExportReport> {
  const t0 = performance.now();
  const { config, sd } = readCheckpointWeights(f.model, f.checkpoint);
  await startBackend(parseBackendName(f.backend), log);
  const fingerprint = stateDictFingerprint(sd);
  let reference: SamEngine | undefined;
  const tfjs = () => (reference ??= createTfjsSamEngine(buildSam(config, sd)));
  try {
    const base = await exportBase(out, config, sd, fingerprint, tfjs, log, o);
    return report(out, config, fingerprint, base, [], t0);
  } finally {
    reference?.dispose();
  }
}

async function exportBase(
  cacheRoot: string,
  config: SamConfig,
  sd: StateDict,
  modelFingerprint: string,
  reference: () => SamEngine,
  log: (l: string) => void,
  o: ExportOptions,
): Promise<OnnxBaseExport> {
  const name = onnxBaseExportName(config, modelFingerprint);
  if (o.force) {
    rmSync(join(cacheRoot, name), { recursive: true, force: true });
    rmSync(join(cacheRoot, `${name}.rejected.json`), { force: true });
  }
  try {
    return await ensureOnnxBaseExport({
      cacheRoot,
      config,
      modelFingerprint,
      stateDict: () => sd,
      reference,
      log,
    });
  } catch (e) {
    if (e instanceof OnnxExportMismatchError)
      throw new UserError(`${e.message}; segment and serve will run on tfjs`, EXIT.model);
    const code = (e as NodeJS.ErrnoException).code;
    if (code && ['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR'].includes(code)) throw e;
    // onnxruntime-node does not load or run here: the engine is unavailable, not the model.
    throw new UserError(`ONNX Runtime cannot run the export here: ${(e as Error).message}`, EXIT.backend);
  }
}

function report(
  cacheRoot: string,
  config: SamConfig,
  modelFingerprint: string,
  base: OnnxBaseExport,
  alignmentLayers: OnnxExportReport['alignmentLayers'],
  t0: number,
): OnnxExportReport {
  const files: WrittenFile[] = [
    { what: 'image encoder', path: base.encoderPath, bytes: base.manifest.encoder.bytes },
    { what: 'prompt encoder + mask decoder', path: base.decoderPath, bytes: base.manifest.decoder.bytes },
  ];
  for (const meta of ['onnx-export.json', 'probe.json']) {
    const path = join(base.dir, meta);
    if (existsSync(path)) files.push({ what: meta, path, bytes: statSync(path).size });
  }
  return {
    cacheRoot,
    preset: config.name,
    modelFingerprint,
    base,
    files,
    alignmentLayers,
    totalMs: performance.now() - t0,
  };
}
