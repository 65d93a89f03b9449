/**
 * Rules for text that crosses the wire and is stored or shown later. Depends on nothing.
 *
 * - Any stored string: no NUL (Postgres `text` and `jsonb` cannot hold U+0000) and no unpaired UTF-16
 *   surrogate (not Unicode: it has no UTF-8 form, so a database, a log line or a header would mangle or refuse
 *   it). {@link unstorableTextProblem}.
 * - Names (sites, tasks, modalities, target structures): one line of printable text. On top of the above, no
 *   control characters (C0, DEL, C1: newline, ESC sequences that drive terminals, …), no bidirectional-text
 *   controls (U+202E and friends make a name display reversed, so a log line or a table says something else
 *   than it holds) and no line or paragraph separators. {@link nameProblem}.
 */

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Characters a name may not hold: C0 controls, DEL and C1 controls (Unicode category Cc), the bidirectional
 * formatting characters (ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI) and the line and
 * paragraph separators.
 */
const NAME_FORBIDDEN =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `U+202E` for a code unit. */
function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

function kindOf(ch: string): string {
  const c = ch.codePointAt(0) ?? 0;
  if (c === 0) return 'a NUL character';
  if (c >= 0xd800 && c <= 0xdfff) return 'an unpaired UTF-16 surrogate';
  if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return 'a control character';
  if (c === 0x2028 || c === 0x2029) return 'a line or paragraph separator';
  return 'a bidirectional-text control';
}

/**
 * Why `s` cannot be stored as text (a NUL, or an unpaired surrogate, with its position), or null when it can.
 */
export function unstorableTextProblem(s: string): string | null {
  const nul = s.indexOf('\u0000');
  const m = UNPAIRED_SURROGATE.exec(s);
  const at = nul >= 0 && (m === null || nul < m.index) ? nul : (m?.index ?? -1);
  if (at < 0) return null;
  return `must not contain ${kindOf(s[at])} (${codePoint(s[at])} at character ${at + 1})`;
}

/**
 * Why `value` is not a name of at most `maxLength` characters (one line of printable text, not blank), or
 * null when it is one. The text reads after the field's name: `name must not be blank`.
 */
export function nameProblem(value: unknown, maxLength: number): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length < 1 || value.length > maxLength)
    return `must be 1 to ${maxLength} characters (got ${value.length})`;
  if (!/\S/.test(value)) return 'must not be blank';
  const m = NAME_FORBIDDEN.exec(value);
  if (m)
    return `must not contain ${kindOf(m[0])} (${codePoint(m[0])} at character ${m.index + 1}): names are one line of printable text`;
  return null;
}
