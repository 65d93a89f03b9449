/**
 * A failure the coordinator expects and explains: bad input, missing things, conflicts, refused credentials.
 * Services throw these; one global filter turns them into `{ error: { code, message, correlationId } }` with
 * `status` as the HTTP status. Anything that is not a DomainError is a bug and answers 500.
 */
export class DomainError extends Error {
  constructor(
    /** Stable, machine-readable, snake_case (`site_not_found`). Clients switch on it, so never reword it. */
    readonly code: string,
    message: string,
    /** HTTP status it maps to. */
    readonly status: number,
    /** Optional structured detail safe to show to the caller (e.g. which fields failed validation). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidInputError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 400, details);
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 401);
  }
}

export class ForbiddenError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 403);
  }
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 404);
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 409, details);
  }
}

export class UnavailableError extends DomainError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 503, details);
  }
}

/** A request body, query or parameter that does not match its DTO (from the global validation pipe). */
export class RequestValidationError extends InvalidInputError {
  constructor(readonly problems: string[]) {
    super('validation_failed', `invalid request: ${problems.join('; ')}`, { problems });
  }
}
