import { describe, expect, it } from 'vitest';
import { nameProblem, unstorableTextProblem } from './text';

describe('unstorableTextProblem', () => {
  it('accepts any well-formed text without NUL, control characters and astral characters included', () => {
    for (const s of ['', 'a@b.example', 'line\nbreak\tand\u001b[31m', '🫁 lungs', '肝臓', 'Лёгкие', '\u202e'])
      expect(unstorableTextProblem(s), s).toBeNull();
  });

  it('names a NUL and an unpaired surrogate of either kind, with its position', () => {
    expect(unstorableTextProblem('a@b.example\u0000')).toBe(
      'must not contain a NUL character (U+0000 at character 12)',
    );
    expect(unstorableTextProblem('ab\ud800')).toBe(
      'must not contain an unpaired UTF-16 surrogate (U+D800 at character 3)',
    );
    expect(unstorableTextProblem('\udc00x')).toMatch(/unpaired UTF-16 surrogate \(U\+DC00 at character 1\)/);
    expect(unstorableTextProblem('\ud83e\udec1\udec1')).toMatch(/U\+DEC1 at character 3/);
    // the first problem is named
    expect(unstorableTextProblem('\ud800\u0000')).toMatch(/surrogate/);
  });
});

describe('nameProblem', () => {
  it('accepts one line of printable text in any script, emoji included', () => {
    for (const s of [
      'St Olav',
      'liver CT',
      '🫁 lungs',
      '肝臓 CT',
      'Лёгкие',
      'Πνεύμονες',
      'ריאות',
      'x'.repeat(200),
    ])
      expect(nameProblem(s, 200), s).toBeNull();
  });

  it('refuses control characters, C1 controls, bidi controls, separators and unpaired surrogates', () => {
    const cases: [string, RegExp][] = [
      ['liver\nspleen', /a control character \(U\+000A at character 6\)/],
      ['\u001b[2Jliver', /a control character \(U\+001B at character 1\)/],
      ['liver\u0085', /a control character \(U\+0085/],
      ['liver\u009b31m', /a control character \(U\+009B/],
      ['liver\u007f', /U\+007F/],
      ['gpj.\u202eexe', /a bidirectional-text control \(U\+202E at character 5\)/],
      ['a\u2066b', /bidirectional-text control \(U\+2066/],
      ['a\u200fb', /U\+200F/],
      ['a\u061cb', /U\+061C/],
      ['a\u2028b', /a line or paragraph separator \(U\+2028/],
      ['a\u0000b', /a NUL character/],
      ['a\ud800b', /an unpaired UTF-16 surrogate/],
    ];
    for (const [s, re] of cases) expect(nameProblem(s, 200), JSON.stringify(s)).toMatch(re);
    expect(nameProblem('a\u202eb', 200)).toMatch(/names are one line of printable text$/);
  });

  it('refuses blanks, wrong lengths and non-strings', () => {
    expect(nameProblem('   ', 200)).toBe('must not be blank');
    expect(nameProblem('', 200)).toBe('must be 1 to 200 characters (got 0)');
    expect(nameProblem('x'.repeat(51), 50)).toBe('must be 1 to 50 characters (got 51)');
    expect(nameProblem(42, 50)).toBe('must be a string');
  });
});
