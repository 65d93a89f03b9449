import { describe, expect, it } from 'vitest';
import {
  AUTH_ERROR_CODES,
  ENROLLMENT_TOKEN_PREFIX,
  KEY_ROTATION_AUDIENCE,
  MAX_ASSERTION_LIFETIME_SECONDS,
  SITE_TOKEN_AUDIENCE,
} from './index';

describe('auth wire constants', () => {
  it('keeps the audiences distinct, so an assertion can never pass as a rotation proof', () => {
    expect(SITE_TOKEN_AUDIENCE).toBe('casam-coordinator/site-token');
    expect(KEY_ROTATION_AUDIENCE).toBe('casam-coordinator/key-rotation');
    expect(MAX_ASSERTION_LIFETIME_SECONDS).toBe(300);
    expect(ENROLLMENT_TOKEN_PREFIX).toBe('cset_');
  });
  it('lists unique snake_case error codes', () => {
    expect(new Set(AUTH_ERROR_CODES).size).toBe(AUTH_ERROR_CODES.length);
    for (const c of AUTH_ERROR_CODES) expect(c).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });
});
