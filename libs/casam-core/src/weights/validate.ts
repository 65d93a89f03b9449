import { SAM_PRESETS, SamConfig } from '../sam/config';
import {
  HostDType,
  HostTensor,
  StateDict,
  float32Tensor,
  shapeEquals,
  toFloat32,
} from '../tensor/host-tensor';
import { parseCheckpoint, readCheckpoint } from './checkpoint';
import { SAM_PARTS, SamPart, expectedStateDict } from '../sam/expected-keys';

const FLOAT_DTYPES: ReadonlySet<HostDType> = new Set(['float32', 'float16', 'bfloat16', 'float64']);
const LIST_LIMIT = 10;

export interface WrongShape {
  name: string;
  expected: number[];
  actual: number[];
}
export interface WrongDtype {
  name: string;
  dtype: HostDType;
}
export interface NonFinite {
  name: string;
  /** How many NaN/±Inf values the tensor holds. */
  count: number;
}

/** A checkpoint that does not fit the model: the fields say exactly which keys are off. */
export class CheckpointMismatchError extends Error {
  override name = 'CheckpointMismatchError';
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly wrongShape: WrongShape[],
    readonly wrongDtype: WrongDtype[],
    readonly nonFinite: NonFinite[],
    readonly hints: string[],
    header: string,
  ) {
    super(
      [
        header,
        section('missing', missing),
        section('unexpected', unexpected),
        section(
          'wrong shape',
          wrongShape.map((w) => `${w.name} (expected [${w.expected}], got [${w.actual}])`),
        ),
        section(
          'not floating-point',
          wrongDtype.map((w) => `${w.name} (${w.dtype})`),
        ),
        section(
          'NaN/Inf values',
          nonFinite.map((w) => `${w.name} (${w.count} values)`),
        ),
        ...hints.map((h) => `  hint: ${h}`),
      ]
        .filter((s) => s !== '')
        .join('\n'),
    );
  }
}

function section(title: string, items: string[]): string {
  if (items.length === 0) return '';
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  const more = items.length > LIST_LIMIT ? ` and ${items.length - LIST_LIMIT} more` : '';
  return `  ${title} (${items.length}): ${shown}${more}`;
}

export interface ValidateOptions {
  /** File name or other label for the message. */
  source?: string;
}

function partOf(name: string): SamPart | null {
  const head = name.slice(0, name.indexOf('.'));
  return (SAM_PARTS as readonly string[]).includes(head) ? (head as SamPart) : null;
}

function countNonFinite(t: HostTensor): number {
  const d = toFloat32(t);
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) n++;
  return n;
}

/**
 * Checks `sd` against the official layout of `cfg` (only the requested parts). Keys of the other SAM parts are
 * ignored, so a full checkpoint can feed a decoder-only model; any other key is unexpected. Throws
 * `CheckpointMismatchError` listing every problem.
 */
export function validateStateDict(
  sd: StateDict,
  cfg: SamConfig,
  parts: readonly SamPart[] = SAM_PARTS,
  opts: ValidateOptions = {},
): void {
  const expected = expectedStateDict(cfg, parts);
  const expectedNames = new Set(expected.map((e) => e.name));
  const missing: string[] = [];
  const wrongShape: WrongShape[] = [];
  const wrongDtype: WrongDtype[] = [];
  const nonFinite: NonFinite[] = [];
  for (const e of expected) {
    const t = sd.get(e.name);
    if (!t) {
      missing.push(e.name);
      continue;
    }
    if (!shapeEquals(t.shape, e.shape))
      wrongShape.push({ name: e.name, expected: e.shape, actual: [...t.shape] });
    if (!FLOAT_DTYPES.has(t.dtype)) wrongDtype.push({ name: e.name, dtype: t.dtype });
    else {
      const n = countNonFinite(t);
      if (n) nonFinite.push({ name: e.name, count: n });
    }
  }
  const unexpected = [...sd.keys()].filter((k) => !expectedNames.has(k) && !isOtherPart(k, parts));
  if (missing.length + unexpected.length + wrongShape.length + wrongDtype.length + nonFinite.length === 0)
    return;
  const where = opts.source ? `${opts.source}: ` : '';
  const header = `${where}checkpoint does not match the ${cfg.name} model (${[...parts].join(', ')}):`;
  throw new CheckpointMismatchError(
    missing,
    unexpected,
    wrongShape,
    wrongDtype,
    nonFinite,
    hintsFor(sd, cfg, parts, missing.length + wrongShape.length > 0),
    header,
  );
}

function isOtherPart(name: string, parts: readonly SamPart[]): boolean {
  const p = partOf(name);
  return p !== null && !parts.includes(p);
}

/** Guesses what the checkpoint is when it does not fit: another preset, or a known naming variant. */
function hintsFor(sd: StateDict, cfg: SamConfig, parts: readonly SamPart[], layoutOff: boolean): string[] {
  const hints: string[] = [];
  const keys = [...sd.keys()];
  if (keys.length && keys.every((k) => k.startsWith('module.')))
    hints.push('every key starts with "module." (saved from DataParallel); strip that prefix before loading');
  if (!layoutOff) return hints;
  for (const preset of Object.values(SAM_PRESETS) as SamConfig[]) {
    if (preset.name === cfg.name) continue;
    const fits = expectedStateDict(preset, parts).every((e) => {
      const t = sd.get(e.name);
      return t !== undefined && shapeEquals(t.shape, e.shape);
    });
    if (fits) {
      hints.push(`this looks like a ${preset.name} checkpoint; use the ${preset.name} preset`);
      return hints;
    }
  }
  // No exact fit: describe the encoder so the user can pick a config.
  const patch = sd.get('image_encoder.patch_embed.proj.weight');
  if (parts.includes('image_encoder') && patch && patch.shape.length === 4) {
    let depth = 0;
    while (sd.has(`image_encoder.blocks.${depth}.norm1.weight`)) depth++;
    const width = patch.shape[0];
    if (depth === cfg.encoderDepth && width === cfg.encoderEmbedDim) return hints; // right size, other damage
    const same = (Object.values(SAM_PRESETS) as SamConfig[]).find(
      (p) => p.encoderDepth === depth && p.encoderEmbedDim === width && p.name !== cfg.name,
    );
    hints.push(
      `the checkpoint's image encoder has ${depth} blocks of width ${width}` +
        (same ? `, like ${same.name}: this looks like a ${same.name} checkpoint` : ''),
    );
  }
  return hints;
}

/**
 * Reads a checkpoint (path or bytes), validates it against `cfg` and returns only the requested parts, in
 * official order, as float32 (f16/bf16/f64 are converted). Either everything loads or it throws.
 */
export function loadSamWeights(
  pathOrBuf: string | Uint8Array,
  cfg: SamConfig,
  parts: readonly SamPart[] = SAM_PARTS,
): StateDict {
  const source = typeof pathOrBuf === 'string' ? pathOrBuf : '<buffer>';
  const sd = typeof pathOrBuf === 'string' ? readCheckpoint(pathOrBuf) : parseCheckpoint(pathOrBuf, source);
  validateStateDict(sd, cfg, parts, { source });
  const out: StateDict = new Map();
  for (const e of expectedStateDict(cfg, parts)) {
    const t = sd.get(e.name) as HostTensor;
    out.set(e.name, t.dtype === 'float32' ? t : float32Tensor([...t.shape], toFloat32(t)));
  }
  return out;
}
