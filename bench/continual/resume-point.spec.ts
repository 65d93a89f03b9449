import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { casamTaskDir, decoderTaskDir, pruneWork } from './resume-point';
import type { BenchState, CasamTaskRecord, StageRecord } from './state';

const TASKS = ['a', 'b'];

function touch(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'x');
}

/** A task folder as trainTask leaves it, and the record the benchmark keeps for it. */
function trainedTask(work: string, dir: string): CasamTaskRecord {
  for (const f of ['adapter.safetensors', 'al-checkpoint.safetensors', 'features.safetensors', 'tau.json'])
    touch(join(dir, f));
  return { adapterPath: join(dir, 'adapter.safetensors').slice(work.length + 1) } as CasamTaskRecord;
}

function emptyState(): BenchState {
  return {
    format: 'casam-continual-bench-state',
    version: 2,
    configHash: 'h',
    plan: {} as BenchState['plan'],
    casamTasks: {},
    casamImages: {},
    stages: {},
  };
}

describe('pruneWork: the committed resume point keeps only what the units still to run need', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const workDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'casam-resume-'));
    dirs.push(d);
    return d;
  };

  it('keeps a finished task adapter until its set is scored, and an unfinished task whole', () => {
    const work = workDir();
    const state = emptyState();
    state.casamTasks['0:a'] = trainedTask(work, casamTaskDir(work, 0, 'a'));
    // Task b of order 1 is mid-training: its epoch checkpoint must survive a stop.
    touch(join(casamTaskDir(work, 0, 'b'), 'al-checkpoint.safetensors'));
    // Order 2's folder sits inside order 1's 'casam' folder: scoring order 1 must not touch it.
    state.casamTasks['1:a'] = trainedTask(work, casamTaskDir(work, 1, 'a'));

    pruneWork(work, state, TASKS, 2);
    expect(readdirSync(casamTaskDir(work, 0, 'a'))).toEqual(['adapter.safetensors']);
    expect(readdirSync(casamTaskDir(work, 0, 'b'))).toEqual(['al-checkpoint.safetensors']);
    expect(readdirSync(casamTaskDir(work, 1, 'a'))).toEqual(['adapter.safetensors']);

    state.casamTasks['0:b'] = trainedTask(work, casamTaskDir(work, 0, 'b'));
    state.casamImages['0'] = [];
    const removed = pruneWork(work, state, TASKS, 2);
    expect(existsSync(casamTaskDir(work, 0, 'a'))).toBe(false);
    expect(existsSync(casamTaskDir(work, 0, 'b'))).toBe(false);
    expect(readdirSync(casamTaskDir(work, 1, 'a'))).toEqual(['adapter.safetensors']);
    expect(removed).toContain('casam/a');
    // Idempotent: a second pass (the next save, the next start) finds nothing to remove.
    expect(pruneWork(work, state, TASKS, 2)).toEqual([]);
  });

  it('does the same for the decoder-adapter set', () => {
    const work = workDir();
    const state = emptyState();
    state.decoderTasks = { a: trainedTask(work, decoderTaskDir(work, 'a')) as never };
    pruneWork(work, state, TASKS, 1);
    expect(readdirSync(decoderTaskDir(work, 'a'))).toEqual(['adapter.safetensors']);
    state.decoderImages = [];
    pruneWork(work, state, TASKS, 1);
    expect(existsSync(decoderTaskDir(work, 'a'))).toBe(false);
  });

  it('keeps only the last stage of an unfinished shared-AL order, none of a finished one, and no joint weights once joint is recorded', () => {
    const work = workDir();
    const state = emptyState();
    const THREE = ['a', 'b', 'c']; // three stages per order: EWC has two recorded and the third under way
    const stage = (weights: string): StageRecord => {
      touch(join(work, weights));
      return { weights } as StageRecord;
    };
    state.stages['ewc:0'] = [stage('ewc-o0-s0.safetensors'), stage('ewc-o0-s1.safetensors')];
    state.stages['sequential:0'] = [stage('sequential-o0-s0.safetensors')];
    touch(join(work, 'ewc-o0-s2.ck.safetensors')); // the stage under way
    touch(join(work, 'joint.safetensors'));
    pruneWork(work, state, THREE, 1);
    expect(readdirSync(work).sort()).toEqual([
      'ewc-o0-s1.safetensors',
      'ewc-o0-s2.ck.safetensors',
      'joint.safetensors',
      'sequential-o0-s0.safetensors',
    ]);
    state.joint = { weights: 'joint.safetensors' } as BenchState['joint'];
    pruneWork(work, state, THREE, 1);
    expect(existsSync(join(work, 'joint.safetensors'))).toBe(false);
    // An order with every stage recorded (one per task) needs no weights at all.
    state.stages['sequential:0'].push(
      stage('sequential-o0-s1.safetensors'),
      stage('sequential-o0-s2.safetensors'),
    );
    pruneWork(work, state, THREE, 1);
    expect(readdirSync(work).sort()).toEqual(['ewc-o0-s1.safetensors', 'ewc-o0-s2.ck.safetensors']);
  });
});
