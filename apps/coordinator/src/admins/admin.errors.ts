import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../common/domain-error';

export class AdminEmailTakenError extends ConflictError {
  constructor(email: string) {
    super('admin_email_taken', `an admin with email ${email} already exists`);
  }
}

export class WeakPasswordError extends InvalidInputError {
  constructor(reason: string) {
    super('weak_password', `password refused: ${reason}`);
  }
}

export class InvalidEmailError extends InvalidInputError {
  constructor(email: string) {
    super('invalid_email', `not an email address: "${email}"`);
  }
}

export class AdminNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('admin_not_found', `no admin ${id}`);
  }
}

export class CannotDisableSelfError extends ForbiddenError {
  constructor() {
    super('cannot_disable_self', 'you cannot disable your own account; ask another admin');
  }
}

export class AdminAlreadyDisabledError extends ConflictError {
  constructor(id: string) {
    super('admin_already_disabled', `admin ${id} is already disabled`);
  }
}
