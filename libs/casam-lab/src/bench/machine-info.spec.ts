import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LoadCheckpoints, machineInfo, machineSummary } from './machine-info';

describe('machineInfo', () => {
  it('names cores, model, memory and Node, and the load averages at start and at each checkpoint', () => {
    const loads = [
      [1.234, 1, 0.5],
      [2, 1.5, 0.75],
    ];
    let i = 0;
    const load = new LoadCheckpoints(() => loads[i++]);
    load.mark('afterTraining');
    const m = machineInfo({ load, backend: 'wasm' });
    expect(m).toMatchObject({
      cores: cpus().length,
      node: process.version,
      backend: 'wasm',
      loadavgAtStart: [1.23, 1, 0.5],
      loadavg: { start: [1.23, 1, 0.5], afterTraining: [2, 1.5, 0.75] },
    });
    expect(Object.keys(m.loadavg)).toEqual(['start', 'afterTraining']);
    expect(m.memoryGiB).toBeGreaterThan(0);
  });

  it('without checkpoints takes the load of this moment as start, and leaves backend out unless given', () => {
    const m = machineInfo();
    expect(m.loadavgAtStart).toHaveLength(3);
    expect(Object.keys(m.loadavg)).toEqual(['start']);
    expect('backend' in m).toBe(false);
  });

  it('summarises the machine for a log line', () => {
    expect(machineSummary()).toMatch(/^\d+ cores \(load \d+\.\d \d+\.\d \d+\.\d\)$/);
  });
});
