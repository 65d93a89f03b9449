import { ConflictError, InvalidInputError } from '../common/domain-error';

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
