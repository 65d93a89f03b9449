/**
 * Text that came from outside this process (the coordinator's answers, a bundle's task names, modalities and
 * structures) is printed to terminals and logs. Raw, a name holding ESC sequences could rewrite the operator's
 * screen, a newline could forge a log line, and a right-to-left override could make one name read as another. So
 * every such string is printed through these helpers: characters that are not printable text are written as
 * visible escapes, everything else (accents, CJK, emoji) stays as it is.
 */

/**
 * C0 controls (newline and tab included), DEL, C1 controls, the bidirectional formatting characters (U+061C,
 * U+200E/F, U+202A–U+202E, U+2066–U+2069), the Unicode line and paragraph separators, and lone surrogates.
 */
const UNPRINTABLE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of printable text: control and bidi characters become visible escapes (`\n`, `\x1b`, `\u202e`). */
export function printable(s: unknown): string {
  return String(s).replace(UNPRINTABLE, escapeChar);
}

/**
 * Like {@link printable}, but keeps line breaks: for messages this program composed over several lines (a list
 * of problems) that may embed outside text. Strings from outside should already have gone through `printable`;
 * this is the safety net on everything the CLI prints.
 */
export function printableLines(s: unknown): string {
  return String(s)
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}

/** Characters JSON.stringify leaves raw that a terminal would act on (it already escapes C0 and lone surrogates). */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NON_ASCII = /[\u007f-\uffff]/g;
const jsonEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON for a terminal: the same value (JSON.parse gives back exactly what was stringified), with DEL, C1 and bidi
 * characters written as `\uXXXX` escapes.
 */
export function printableJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(JSON_UNSAFE, jsonEscape);
}

/**
 * JSON in pure printable ASCII, for an HTTP header: every character from DEL up is written as a JSON `\uXXXX`
 * escape (an emoji as its two surrogate escapes), so the value is a valid header whatever the names hold, and
 * JSON.parse of it gives back exactly the value (the same object as the JSON body would carry).
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(NON_ASCII, jsonEscape);
}
