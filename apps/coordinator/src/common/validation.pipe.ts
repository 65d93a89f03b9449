import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import { unstorableTextProblem } from '@casam/protocol';
import { RequestValidationError } from './domain-error';

/** At most this many unstorable strings are named in one answer (the rest would only repeat the point). */
const MAX_TEXT_PROBLEMS = 10;

/**
 * Deepest nesting of objects and arrays a request may have. The deepest message is two levels (a task proposal's
 * `baseModel`); a few thousand levels of `{"a":{"a":…}}` (a 25 kB body) once overflowed the
 * call stack of a recursive copy and answered 500.
 */
export const MAX_REQUEST_NESTING = 32;

/**
 * The global pipe, before each route's own schema (wire-request.ts): every body, query and path is refused
 * when it nests deeper than any message does, or holds a string (value or key) no database can store (a NUL
 * or an unpaired UTF-16 surrogate). Here, once for every route, because such a string would otherwise reach
 * Postgres and fail there as a 500.
 */
class RequestTextPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'body' || metadata.type === 'query' || metadata.type === 'param') {
      if (nestingDepthOver(value, MAX_REQUEST_NESTING))
        throw new RequestValidationError([
          `${metadata.type} is nested more than ${MAX_REQUEST_NESTING} levels deep`,
        ]);
      const problems = unstorableTextProblems(value);
      if (problems.length > 0) throw new RequestValidationError(problems);
    }
    return value;
  }
}

export function createValidationPipe(): PipeTransform {
  return new RequestTextPipe();
}

/**
 * `field must not contain …` for every string (value or key) of a parsed JSON value that cannot be stored.
 * Walks with an explicit stack: a deeply nested body must not overflow the call stack.
 */
export function unstorableTextProblems(root: unknown): string[] {
  const problems: string[] = [];
  const stack: { path: string; value: unknown }[] = [{ path: '', value: root }];
  while (stack.length > 0 && problems.length < MAX_TEXT_PROBLEMS) {
    const { path, value } = stack.pop()!;
    if (typeof value === 'string') {
      const p = unstorableTextProblem(value);
      if (p) problems.push(`${path || 'value'} ${p}`);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ path: join(path, String(i)), value: value[i] });
    } else if (isPlainObject(value)) {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i];
        const p = unstorableTextProblem(key);
        if (p) problems.push(`${path || 'body'} key ${JSON.stringify(key.slice(0, 64))} ${p}`);
        else stack.push({ path: join(path, key), value: value[key] });
      }
    }
  }
  return problems;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** Whether objects and arrays in `root` nest more than `max` levels (an explicit stack: no recursion to overflow). */
export function nestingDepthOver(root: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value))
      stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

/** Parsed JSON, query and path objects; not Buffers or class instances (nothing of the sort carries text). */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
