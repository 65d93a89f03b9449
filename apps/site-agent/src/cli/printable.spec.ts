import { describe, expect, it } from 'vitest';
import { asciiJson, printable, printableJson, printableLines } from './printable';

describe('printable text from outside', () => {
  it('escapes controls, line breaks, bidi overrides and lone surrogates; keeps real text', () => {
    expect(printable('liver\n[ok] forged line')).toBe('liver\\n[ok] forged line');
    expect(printable('\u001b[2J\u001b]0;owned\u0007x')).toBe('\\x1b[2J\\x1b]0;owned\\x07x');
    expect(printable('a\rb\tc\u007fd\u009be')).toBe('a\\rb\\tc\\x7fd\\x9be');
    expect(printable('exe.\u202etxt')).toBe('exe.\\u202etxt');
    expect(printable('x\u2028y\u2066z')).toBe('x\\u2028y\\u2066z');
    expect(printable('lone \ud83e end')).toBe('lone \\ud83e end');
    expect(printable('🫁 lungs · Лёгкие · 肺 · πνεύμονες · Crâne')).toBe(
      '🫁 lungs · Лёгкие · 肺 · πνεύμονες · Crâne',
    );
    expect(printable(undefined)).toBe('undefined');
  });

  it('printableLines keeps the line breaks this program wrote and nothing else', () => {
    expect(printableLines('problems:\n  a\u001b[31m\n  b\r')).toBe('problems:\n  a\\x1b[31m\n  b\\r');
  });

  it('JSON for terminals and headers parses back to the same value', () => {
    const v = { taskName: '🫁 lungs\u202e\u0085', n: 1, list: ['肺', 'x\ny'] };
    const t = printableJson(v);
    expect(t).not.toMatch(/[\u007f-\u009f\u202e\n]/);
    expect(JSON.parse(t)).toEqual(v);
    const h = asciiJson(v);
    expect(h).toMatch(/^[\x20-\x7e]+$/);
    expect(h).toContain('\\ud83e\\udec1 lungs');
    expect(JSON.parse(h)).toEqual(v);
  });
});
