import { describe, expect, it } from 'vitest';
import { isApiErrorBody } from './index';

describe('isApiErrorBody', () => {
  it('accepts the error shape and nothing else', () => {
    expect(isApiErrorBody({ error: { code: 'x', message: 'y', correlationId: 'z' } })).toBe(true);
    expect(isApiErrorBody({ error: { code: 'x', message: 'y' } })).toBe(false);
    expect(isApiErrorBody({ message: 'y' })).toBe(false);
    expect(isApiErrorBody(null)).toBe(false);
  });
});
