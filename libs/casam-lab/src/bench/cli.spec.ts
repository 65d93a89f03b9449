import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CliUsageError, failUsage, numberFlag, parseCliArgs, stopOnSignal } from './cli';

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function io(argv: string[]) {
  const err: string[] = [];
  const out: string[] = [];
  return {
    err,
    out,
    io: {
      argv,
      error: (t: string) => void err.push(t),
      out: (t: string) => void out.push(t),
      exit: (code: number): never => {
        throw new Exit(code);
      },
    },
  };
}

const USAGE = 'usage: npm run bench:x -- [--quick] [--runs N]';
const OPTIONS = {
  quick: { type: 'boolean', default: false },
  runs: { type: 'string', default: '10' },
} as const;

describe('parseCliArgs', () => {
  it('parses known flags with their defaults', () => {
    expect(parseCliArgs(USAGE, OPTIONS, io([]).io)).toMatchObject({ quick: false, runs: '10' });
    expect(parseCliArgs(USAGE, OPTIONS, io(['--quick', '--runs', '3']).io)).toMatchObject({
      quick: true,
      runs: '3',
    });
    expect(parseCliArgs(USAGE, OPTIONS, io(['--runs=4']).io).runs).toBe('4');
  });

  it('refuses an unknown flag, a missing value and a stray argument with the usage and exit 2', () => {
    for (const argv of [['--quik'], ['--runs'], ['extra']]) {
      const t = io(argv);
      expect(() => parseCliArgs(USAGE, OPTIONS, t.io)).toThrow(new Exit(2));
      expect(t.err.join('\n')).toMatch(/^error: /);
      expect(t.err.join('\n')).toContain(USAGE);
    }
  });

  it('prints the usage for --help and -h and exits 0', () => {
    for (const flag of ['--help', '-h']) {
      const t = io([flag]);
      expect(() => parseCliArgs(USAGE, OPTIONS, t.io)).toThrow(new Exit(0));
      expect(t.out).toEqual([USAGE]);
    }
  });
});

describe('numberFlag and failUsage', () => {
  it('checks integers and bounds, naming the flag', () => {
    expect(numberFlag('runs', '3', { integer: true, min: 1 })).toBe(3);
    expect(numberFlag('lr', '3e-4', { min: 0 })).toBeCloseTo(3e-4);
    expect(numberFlag('runs', undefined)).toBeUndefined();
    expect(() => numberFlag('runs', '2.5', { integer: true })).toThrow(
      /--runs must be an integer, got "2.5"/,
    );
    expect(() => numberFlag('runs', 'x')).toThrow(/--runs must be a number/);
    expect(() => numberFlag('runs', '')).toThrow(CliUsageError);
    expect(() => numberFlag('runs', '0', { min: 1 })).toThrow(/--runs must be ≥ 1, got 0/);
    expect(() => numberFlag('p', '2', { max: 1 })).toThrow(/--p must be ≤ 1/);
  });

  it('prints a usage error with the usage and exits 2; rethrows anything else', () => {
    const t = io([]);
    expect(() => failUsage(new CliUsageError('--runs must be ≥ 1'), USAGE, t.io)).toThrow(new Exit(2));
    expect(t.err[0]).toBe(`error: --runs must be ≥ 1\n${USAGE}`);
    const bug = new TypeError('bug');
    expect(() => failUsage(bug, USAGE, t.io)).toThrow(bug);
  });
});

describe('stopOnSignal', () => {
  it('aborts on the first SIGTERM and exits 130 on the second; dispose removes the handlers', () => {
    const t = io([]);
    const proc = new EventEmitter();
    const stop = stopOnSignal('saving', { ...t.io, process: proc });
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    proc.emit('SIGTERM', 'SIGTERM');
    expect(stop.signal.aborted).toBe(true);
    expect(t.err.join('')).toContain('SIGTERM: saving');
    expect(() => proc.emit('SIGINT', 'SIGINT')).toThrow(new Exit(130));
    stop.dispose();
    expect(proc.listenerCount('SIGTERM') + proc.listenerCount('SIGINT')).toBe(0);
  });
});
