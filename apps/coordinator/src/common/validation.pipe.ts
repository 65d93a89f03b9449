import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { RequestValidationError } from './domain-error';

/**
 * The one validation pipe: DTO classes (class-validator) are the contract. Unknown fields are refused, not
 * silently dropped, so a client typo is an error and nothing unexpected ever reaches a service.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => new RequestValidationError(flatten(errors)),
  });
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const field = `${prefix}${e.property}`;
    const own = Object.values(e.constraints ?? {}).map((m) =>
      m.includes(e.property) ? `${prefix}${m}` : `${field}: ${m}`,
    );
    return [...own, ...flatten(e.children ?? [], `${field}.`)];
  });
}
