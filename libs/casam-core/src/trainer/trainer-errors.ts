/** Errors shared by the trainer's phases. */

/** Long work stopped by its AbortSignal. Everything finished before the stop is on disk: rerun to resume. */
export class TrainingAbortedError extends Error {
  override name = 'TrainingAbortedError';
  constructor(
    readonly phase: string,
    detail: string,
  ) {
    super(`${phase} aborted: ${detail}; run it again with the same options to resume`);
  }
}

/** Options out of range or inputs the trainer cannot use (no regions, sizes that do not match, …). */
export class TrainerInputError extends Error {
  override name = 'TrainerInputError';
}

/** A training step allocated tensors it did not free (a bug; the run would run out of memory). */
export class TensorLeakError extends Error {
  override name = 'TensorLeakError';
}
