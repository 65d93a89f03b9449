/**
 * The full run's resume point: the state file and a work folder that holds only what the units still to run
 * need, small enough to commit. A full run takes longer than one working session on 2 cores, and a machine's
 * disk does not outlive its session, so the run continues on another machine from what was committed.
 *
 * What a finished unit leaves behind, and when it goes:
 * - a CA-SAM task (its trainTask folder): everything but the adapter file as soon as its record is in the state
 *   (epoch checkpoints, features, VAE/τ folds); the adapter once its set's test images are scored (the report
 *   reads scores and IoUs from the state, never an adapter);
 * - a stage of sequential fine-tuning or EWC: its weights (and EWC's Fisher and anchor) once the next stage is
 *   recorded, since a stage only starts from the one before; the last stage's once its order has every stage;
 * - the joint run: its weights once it is recorded.
 * An unfinished unit's epoch checkpoint stays, so a stop mid-task resumes at its last epoch. Pruning runs after
 * each save and when a run starts (idempotent), and only ever deletes files the state no longer names as needed.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { casamTaskKey, type BenchState, type StageRecord } from './state';

/** A CA-SAM task's trainTask folder in order `order` (the paper order's set keeps the folders of earlier runs). */
export function casamTaskDir(work: string, order: number, task: string): string {
  return join(work, 'casam', ...(order > 0 ? [`order-${order + 1}`] : []), task);
}

export function decoderTaskDir(work: string, task: string): string {
  return join(work, 'casam-decoder', task);
}

/** A shared-AL order (sequential or EWC) with a recorded stage per task: no later stage starts from its weights. */
export function orderFinished(stages: readonly StageRecord[], tasks: readonly string[]): boolean {
  return stages.length >= tasks.length;
}

/** Deletes what no unit still to run needs (see the header); returns the paths removed, relative to `work`. */
export function pruneWork(
  work: string,
  state: BenchState,
  tasks: readonly string[],
  orders: number,
): string[] {
  const removed: string[] = [];
  const rm = (rel: string): void => {
    const p = join(work, rel);
    if (!existsSync(p)) return;
    rmSync(p, { recursive: true, force: true });
    removed.push(rel);
  };
  /** A finished task folder: keep only the adapter until its set is scored, then nothing. */
  const finishTask = (dir: string, adapterPath: string | undefined, scored: boolean): void => {
    const rel = dir.slice(work.length + 1);
    if (!adapterPath) return;
    if (scored) return rm(rel);
    if (!existsSync(dir)) return;
    const keep = basename(adapterPath);
    for (const f of readdirSync(dir)) if (f !== keep) rm(join(rel, f));
  };
  for (let o = 0; o < orders; o++)
    for (const t of tasks)
      finishTask(
        casamTaskDir(work, o, t),
        state.casamTasks[casamTaskKey(o, t)]?.adapterPath,
        Boolean(state.casamImages[o]),
      );
  for (const t of tasks)
    finishTask(decoderTaskDir(work, t), state.decoderTasks?.[t]?.adapterPath, Boolean(state.decoderImages));
  for (const recs of Object.values(state.stages))
    for (const r of orderFinished(recs, tasks) ? recs : recs.slice(0, -1)) rm(r.weights);
  if (state.joint) rm(state.joint.weights);
  return removed;
}
