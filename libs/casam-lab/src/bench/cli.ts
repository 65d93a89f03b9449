/**
 * What every benchmark and script does with its command line and with Ctrl-C, written once.
 *
 * - `parseCliArgs`: node:util's `parseArgs` in strict mode (an unknown flag or a missing value is an error), with
 *   `--help`/`-h` added; a usage error prints the message and the usage text to stderr and exits 2 (EXIT_CODES.usage),
 *   `--help` prints the usage to stdout and exits 0.
 * - `stopOnSignal`: the first SIGINT/SIGTERM aborts the returned controller's signal, so a long run finishes its
 *   current step, saves and returns; a second one exits at once (130, EXIT_CODES.interrupted).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_CODES } from '@casam/protocol';

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends Options> = O & { help: { type: 'boolean'; short: 'h' } };
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ options: WithHelp<O>; strict: true; allowPositionals: false }>
>['values'];

/** A bad value found after parsing: the caller throws it, `runCli` prints it with the usage and exits 2. */
export class CliUsageError extends Error {}

export interface CliIo {
  argv?: string[];
  /** Where usage errors go (default: stderr) and where --help goes (default: stdout). */
  error?: (text: string) => void;
  out?: (text: string) => void;
  exit?: (code: number) => never;
}

/** Parses `argv` (default: process.argv after the script) strictly against `options`; see the header. */
export function parseCliArgs<const O extends Options>(usage: string, options: O, io: CliIo = {}): Values<O> {
  const exit = io.exit ?? ((code: number): never => process.exit(code));
  let values: Values<O>;
  try {
    ({ values } = parseArgs({
      args: io.argv ?? process.argv.slice(2),
      options: { ...options, help: { type: 'boolean', short: 'h' } } as WithHelp<O>,
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    (io.error ?? console.error)(`error: ${(e as Error).message}\n${usage}`);
    return exit(EXIT_CODES.usage);
  }
  if ((values as { help?: boolean }).help) {
    (io.out ?? console.log)(usage);
    return exit(EXIT_CODES.ok);
  }
  return values;
}

/** Prints a `CliUsageError` with the usage text and exits 2; anything else is rethrown. */
export function failUsage(e: unknown, usage: string, io: CliIo = {}): never {
  if (!(e instanceof CliUsageError)) throw e;
  (io.error ?? console.error)(`error: ${e.message}\n${usage}`);
  return (io.exit ?? ((code: number): never => process.exit(code)))(EXIT_CODES.usage);
}

/** Parses a number flag: `integer` and `min` checked, with the flag's name in the error. */
export function numberFlag(
  name: string,
  value: string | undefined,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const kind = opts.integer ? 'an integer' : 'a number';
  if (value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)))
    throw new CliUsageError(`--${name} must be ${kind}, got "${value}"`);
  if (opts.min !== undefined && n < opts.min)
    throw new CliUsageError(`--${name} must be ≥ ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max)
    throw new CliUsageError(`--${name} must be ≤ ${opts.max}, got ${n}`);
  return n;
}

export interface SignalStop {
  /** Aborted on the first SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Removes the handlers (call when the long work is done). */
  dispose(): void;
}

/**
 * The first SIGINT/SIGTERM prints `message` (default: finishing the current step) and aborts `signal`; a second
 * exits at once with 130.
 */
export function stopOnSignal(
  message = 'stopping after the current step (Ctrl-C again to quit at once)…',
  io: { error?: (text: string) => void; exit?: (code: number) => never; process?: NodeJS.EventEmitter } = {},
): SignalStop {
  const proc = io.process ?? process;
  const controller = new AbortController();
  let signals = 0;
  const handler = (name: NodeJS.Signals): void => {
    if (++signals > 1) {
      (io.error ?? console.error)(`${name} again: exiting without saving`);
      (io.exit ?? ((code: number): never => process.exit(code)))(EXIT_CODES.interrupted);
      return;
    }
    (io.error ?? console.error)(`\n${name}: ${message}`);
    controller.abort();
  };
  proc.on('SIGINT', handler);
  proc.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      proc.removeListener('SIGINT', handler);
      proc.removeListener('SIGTERM', handler);
    },
  };
}
