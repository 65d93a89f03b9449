/**
 * Strict checks for the small CA-SAM state dicts (Alignment Layer, TaskVAE) and prefix helpers. Pure TypeScript:
 * the adapter-file validator uses it too.
 */
import { HostTensor, StateDict, shapeEquals, toFloat32 } from '../tensor/host-tensor';
import { CasamTensorSpec } from './casam-shapes';

const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64']);

/** A state dict that does not fit a CA-SAM module; `problems` lists every key that is off. */
export class CasamStateDictError extends Error {
  override name = 'CasamStateDictError';
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`${what} state dict does not fit:\n  ${problems.join('\n  ')}`);
  }
}

function countNonFinite(t: HostTensor): number {
  const d = toFloat32(t);
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) n++;
  return n;
}

/** Problems of `sd` against `spec` (missing, unexpected, wrong shape, non-float, NaN/Inf), in spec order. */
export function stateDictProblems(sd: StateDict, spec: readonly CasamTensorSpec[], prefix = ''): string[] {
  const problems: string[] = [];
  const names = new Set(spec.map((s) => s.name));
  for (const s of spec) {
    const t = sd.get(s.name);
    const label = prefix + s.name;
    if (!t) {
      problems.push(`missing tensor ${label}`);
      continue;
    }
    if (!shapeEquals(t.shape, s.shape))
      problems.push(`${label}: shape [${t.shape}] where [${s.shape}] is expected`);
    if (!FLOAT_DTYPES.has(t.dtype)) problems.push(`${label}: dtype ${t.dtype} is not floating-point`);
    else {
      const n = countNonFinite(t);
      if (n) problems.push(`${label}: ${n} NaN/Inf values`);
    }
  }
  for (const k of sd.keys()) if (!names.has(k)) problems.push(`unexpected tensor ${prefix + k}`);
  return problems;
}

/** Throws `CasamStateDictError` unless `sd` holds exactly the tensors of `spec`, finite and float. */
export function checkStateDict(sd: StateDict, spec: readonly CasamTensorSpec[], what: string): void {
  const problems = stateDictProblems(sd, spec);
  if (problems.length) throw new CasamStateDictError(what, problems);
}

/** The entries of `sd` whose names start with `prefix`, with the prefix removed (e.g. `align64.`). */
export function stripPrefix(sd: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** `sd` with every name prefixed. */
export function addPrefix(sd: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) out.set(prefix + k, v);
  return out;
}
