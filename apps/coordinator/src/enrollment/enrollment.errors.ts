import { ConflictError, NotFoundError, UnauthenticatedError } from '../common/domain-error';

/** Why an enrollment token was refused; each has its own 401 code, so the hospital knows what to ask for. */
export type EnrollmentTokenProblem = 'invalid' | 'expired' | 'used' | 'revoked';

const MESSAGES: Record<EnrollmentTokenProblem, string> = {
  invalid: 'this enrollment token is not known; check it was copied whole',
  expired: 'this enrollment token has expired; ask the coordinator admin for a new one',
  used: 'this enrollment token was already used; each token enrolls one site',
  revoked: 'this enrollment token was revoked by an admin',
};

export class EnrollmentTokenRefusedError extends UnauthenticatedError {
  constructor(readonly problem: EnrollmentTokenProblem) {
    super(`enrollment_token_${problem}`, MESSAGES[problem]);
  }
}

export class EnrollmentTokenNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('enrollment_token_not_found', `no enrollment token ${id}`);
  }
}

/** Revoking a token that can no longer be used (already used or already revoked). */
export class EnrollmentTokenNotRevocableError extends ConflictError {
  constructor(id: string, state: 'used' | 'revoked') {
    super(`enrollment_token_${state}`, `enrollment token ${id} is already ${state}`, { state });
  }
}
