import { ConflictError, InvalidInputError, NotFoundError } from '../common/domain-error';

export class TaskNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('task_not_found', `no task ${id}`);
  }
}

export class TaskNameTakenError extends ConflictError {
  constructor(name: string) {
    super('task_name_taken', `this site already proposed a task named "${name}"`);
  }
}

export class UnknownBaseModelPresetError extends InvalidInputError {
  constructor(preset: string, known: readonly string[]) {
    super(
      'unknown_base_model_preset',
      `unknown base-model preset "${preset.slice(0, 64)}"; known presets: ${known.join(', ')}`,
      { known: [...known] },
    );
  }
}

/** The federation has one base model: a task for another one can never share a router bundle. */
export class BaseModelMismatchError extends ConflictError {
  constructor(expected: string, got: string, why: string) {
    super(
      'base_model_mismatch',
      `the task's base model ${got} is not the federation's ${expected} (${why})`,
      { expected, got },
    );
  }
}

/** A compare-and-set transition lost: the task is not (or no longer) in the state the action needs. */
export class TaskStatusConflictError extends ConflictError {
  constructor(id: string, status: string, expected: readonly string[], action: string) {
    super(
      `task_not_${expected.join('_or_')}`,
      `task ${id} is ${status}; only a ${expected.join(' or ')} task can be ${action}`,
      { status },
    );
  }
}

export class TaskClosedError extends ConflictError {
  constructor(id: string, status: string) {
    super('task_closed', `task ${id} is ${status}; its contributors can no longer change`, { status });
  }
}

export class ContributorIsProposerError extends ConflictError {
  constructor(siteId: string) {
    super('contributor_is_proposer', `site ${siteId} proposed this task; it contributes already`);
  }
}

export class TaskContributorNotFoundError extends NotFoundError {
  constructor(taskId: string, siteId: string) {
    super('task_contributor_not_found', `site ${siteId} is not a contributor of task ${taskId}`);
  }
}

export class ContributorSiteNotFoundError extends NotFoundError {
  constructor(siteId: string) {
    super('site_not_found', `no site ${siteId}`);
  }
}
