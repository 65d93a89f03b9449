/**
 * Turns a schema's refusal into the short English lines every side prints: the coordinator's
 * `validation_failed` body, the site agent's egress refusals, socket acks. One line per problem, each starting
 * with where it is (`baseModel.preset must be at most 50 characters`, `unknown field "note"`).
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

/** At most this many problems are listed (a hostile body could otherwise make a megabyte of them). */
export const MAX_LISTED_PROBLEMS = 50;

/** `targetStructures[0]`, `baseModel.preset`. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path)
    out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p).slice(0, 64)}`;
  return out;
}

const ARTICLE: Record<string, string> = {
  int: 'an integer',
  object: 'an object',
  array: 'an array',
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
};

/** The words after the field's name, for an issue the schema gave no message of its own. */
export function issueWords(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (/received undefined$/.test(issue.message)) return 'is missing';
      if (issue.expected === 'number' && /received (number|NaN)$/.test(issue.message))
        return 'must be a finite number';
      return `must be ${ARTICLE[issue.expected] ?? issue.expected}`;
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${max} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${max} items`;
      return issue.inclusive === false ? `must be below ${max}` : `must be at most ${max}`;
    }
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'string')
        return min === '1' ? 'must not be empty' : `must be at least ${min} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at least ${min} item(s)`;
      return issue.inclusive === false ? `must be above ${min}` : `must be at least ${min}`;
    }
    case 'invalid_format':
      return issue.format === 'regex' && 'pattern' in issue
        ? `must match ${String(issue.pattern)}`
        : `must be a valid ${issue.format}`;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return issue.message;
  }
}

/** Zod's own default messages start with a capital ("Invalid input: …"); the schemas' messages never do. */
const isDefaultMessage = (m: string) => /^[A-Z]/.test(m);

/**
 * Every way `value` departs from `schema` (empty when it conforms). `root` names the value itself in a
 * problem about it as a whole (`body must be an object`).
 */
export function wireProblems(schema: z.ZodType, value: unknown, root = 'body'): string[] {
  const r = schema.safeParse(value);
  return r.success ? [] : issueLines(r.error.issues, root);
}

/** The lines of {@link wireProblems} for issues already in hand. */
export function issueLines(issues: readonly Issue[], root = 'body'): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const where = issuePath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys)
        out.push(`${where ? `${where}: ` : ''}unknown field ${JSON.stringify(k.slice(0, 64))}`);
    } else if (issue.code === 'invalid_key') {
      const inner = issueLines(issue.issues, 'name')[0] ?? 'name is not allowed';
      out.push(`${where}: ${inner}`);
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      out.push(...issueLines(issue.errors[0], root));
    } else {
      const words =
        issue.code === 'custom' || !isDefaultMessage(issue.message) ? issue.message : issueWords(issue);
      out.push(`${where || root} ${words}`);
    }
    if (out.length >= MAX_LISTED_PROBLEMS) break;
  }
  return out.slice(0, MAX_LISTED_PROBLEMS);
}
