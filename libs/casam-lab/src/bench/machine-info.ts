import { cpus, loadavg, totalmem } from 'node:os';

/**
 * The `machine` block of a benchmark result: what ran it and how busy it was. The benchmarks share one 2-core
 * machine with other jobs, so the load averages (1, 5 and 15 min) at the start and at named points of the run are
 * what says whether two runs can be compared.
 */
export interface MachineInfo {
  cores: number;
  model: string | undefined;
  memoryGiB: number;
  node: string;
  /** `loadavg.start`, repeated for a quick look. */
  loadavgAtStart: number[];
  /** Load averages by checkpoint name, in the order taken; `start` first. */
  loadavg: Record<string, number[]>;
  /** The compute backend or engine the run used, when it names one. */
  backend?: string;
}

/** Load averages at named points of a run; the first, `start`, is taken when it is made. */
export class LoadCheckpoints {
  readonly taken: Record<string, number[]> = {};

  constructor(private readonly read: () => number[] = loadavg) {
    this.mark('start');
  }

  /** Takes the load averages now under `name` (rounded to 0.01) and returns them. */
  mark(name: string): number[] {
    const now = this.read().map((x) => Math.round(x * 100) / 100);
    this.taken[name] = now;
    return now;
  }
}

/**
 * The machine block for a result file. `load` holds the checkpoints taken during the run; without it the load
 * averages of this moment stand as `start`.
 */
export function machineInfo(opts: { load?: LoadCheckpoints; backend?: string } = {}): MachineInfo {
  const load = opts.load ?? new LoadCheckpoints();
  const cpu = cpus();
  return {
    cores: cpu.length,
    model: cpu[0]?.model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadavgAtStart: load.taken['start'],
    loadavg: { ...load.taken },
    ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
  };
}

/** `2 cores (load 1.0 0.8 0.7)`: how a benchmark names the machine in its first log line. */
export function machineSummary(): string {
  return `${cpus().length} cores (load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')})`;
}
