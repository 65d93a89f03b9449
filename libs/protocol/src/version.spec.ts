import { describe, expect, it } from 'vitest';
import { checkProtocolCompatibility } from './version';

describe('checkProtocolCompatibility', () => {
  it('serves the same version and one minor behind, marking the latter outdated', () => {
    expect(checkProtocolCompatibility('2.3.0', '2.3.1')).toEqual({ ok: true, outdated: false });
    expect(checkProtocolCompatibility('2.2.9', '2.3.1')).toEqual({ ok: true, outdated: true });
  });
  it('refuses two minors behind or an older major, saying what to upgrade to', () => {
    const r = checkProtocolCompatibility('2.1.5', '2.3.0');
    expect(r).toMatchObject({ ok: false, code: 'protocol_too_old' });
    expect(!r.ok && r.message).toMatch(/upgrade the site agent .* ≥ 2\.2\.0/);
    expect(checkProtocolCompatibility('1.9.0', '2.0.0')).toMatchObject({
      ok: false,
      code: 'protocol_too_old',
    });
  });
  it('serves a newer minor but refuses a newer major and garbage', () => {
    expect(checkProtocolCompatibility('2.4.0', '2.3.0')).toEqual({ ok: true, outdated: false });
    expect(checkProtocolCompatibility('3.0.0', '2.3.0')).toMatchObject({
      ok: false,
      code: 'protocol_too_new',
    });
    expect(checkProtocolCompatibility('v2', '2.3.0')).toMatchObject({ ok: false, code: 'protocol_invalid' });
  });
  it('at 0.1 serves 0.0 and 0.1', () => {
    expect(checkProtocolCompatibility('0.0.3', '0.1.0')).toEqual({ ok: true, outdated: true });
  });
});
