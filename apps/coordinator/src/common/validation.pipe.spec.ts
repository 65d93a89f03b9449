import { describe, expect, it } from 'vitest';
import { RequestValidationError } from './domain-error';
import { createValidationPipe, MAX_REQUEST_NESTING, nestingDepthOver } from './validation.pipe';

const nestedObject = (n: number): unknown => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n));
const nestedArray = (n: number): unknown => JSON.parse('['.repeat(n) + ']'.repeat(n));

/** The pipe's answer to `value` as a body: the problems of its RequestValidationError, or what else it threw. */
async function problemsFor(value: unknown): Promise<string[]> {
  try {
    await createValidationPipe().transform(value, { type: 'body' });
  } catch (e) {
    if (e instanceof RequestValidationError) return e.problems;
    throw e;
  }
  return [];
}

describe('validation pipe: nesting depth', () => {
  it('measures nesting without recursion, arrays and objects alike', () => {
    expect(nestingDepthOver({ a: 1 }, 1)).toBe(false);
    expect(nestingDepthOver({ a: [1] }, 1)).toBe(true);
    expect(nestingDepthOver('x', 0)).toBe(false);
    expect(nestingDepthOver(nestedObject(32), 32)).toBe(false);
    expect(nestingDepthOver(nestedObject(33), 32)).toBe(true);
    expect(nestingDepthOver(nestedArray(200_000), 32)).toBe(true);
  });

  // Found by the REST fuzz suite: `{"a":{"a":…}}` 5,000 deep (25 kB) to POST /api/v1/sites/enroll answered 500
  // (RangeError: Maximum call stack size exceeded in a recursive copy). Now a 400 on any route.
  it('refuses a deeply nested body as validation_failed instead of overflowing the stack', async () => {
    for (const body of [nestedObject(5_000), { email: nestedArray(50_000) }]) {
      expect(await problemsFor(body)).toEqual([
        `body is nested more than ${MAX_REQUEST_NESTING} levels deep`,
      ]);
    }
  });

  it("leaves ordinary nesting to the route's schema", async () => {
    const problems = await problemsFor({
      enrollmentToken: 'cset_x',
      siteName: 'St Olav',
      publicJwk: nestedObject(MAX_REQUEST_NESTING - 1),
    });
    expect(problems.some((p) => /nested/.test(p))).toBe(false);
  });
});
