import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from './index';
describe('protocol', () => { it('has a semver', () => { expect(PROTOCOL_VERSION).toMatch(/^\d+\.\d+\.\d+$/); }); });
