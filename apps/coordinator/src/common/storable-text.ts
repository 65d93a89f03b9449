/**
 * `s` with every NUL and unpaired UTF-16 surrogate replaced by U+FFFD, so that text the validation pipe will
 * refuse can still be used before it runs (a rate-limit key) or recorded after (the audit of a refused login):
 * Postgres cannot store either character.
 */
export function storableText(s: string): string {
  return s.replace(
    /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}
