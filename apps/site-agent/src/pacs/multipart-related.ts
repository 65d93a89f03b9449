/**
 * `multipart/related` bodies (RFC 2387) as DICOMweb uses them: WADO-RS answers with one part per instance,
 * STOW-RS takes one part per instance.
 *
 * Written here, and why: the installed multipart parsers (busboy, and Fastify's on top of it) accept only
 * `multipart/form-data`; the maintained generic ones (@remix-run/multipart-parser, @mjackson/…) are ESM-only
 * streaming parsers for a CommonJS agent; and the npm `dicomweb-client` is built on the browser's
 * XMLHttpRequest. The agent retrieves one instance per request (so a resume never refetches), which makes
 * each body small enough to split in memory: finding the boundaries in a Buffer is all that is needed.
 */
import { randomBytes } from 'node:crypto';

export interface MultipartPart {
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The boundary parameter of a `multipart/*` Content-Type, or null when it is not multipart or has none. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^\s*multipart\//i.test(contentType)) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : null;
}

/**
 * Splits a multipart body into its parts. Preamble and epilogue are ignored; a body without the closing
 * delimiter (a truncated transfer) is an error, not a shorter list.
 */
export function parseMultipart(body: Uint8Array, boundary: string): MultipartPart[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let at = buf.indexOf(delimiter);
  if (at < 0) throw new Error(`multipart body has no boundary "${boundary.slice(0, 70)}"`);
  for (;;) {
    let start = at + delimiter.length;
    if (buf[start] === 0x2d && buf[start + 1] === 0x2d) return parts; // `--boundary--`: the end
    start = skipLineEnd(buf, skipTransportPadding(buf, start));
    const next = buf.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), start);
    if (next < 0) throw new Error(`multipart body ends inside part ${parts.length + 1} (truncated?)`);
    const headerEnd = buf.indexOf('\r\n\r\n', start);
    const part = buf.subarray(start, next);
    if (headerEnd < 0 || headerEnd > next) {
      // No headers: the part starts with its blank line (or has only a body, as some servers send it).
      const bodyStart = part.subarray(0, 2).toString('latin1') === '\r\n' ? 2 : 0;
      parts.push({ headers: {}, body: new Uint8Array(part.subarray(bodyStart)) });
    } else
      parts.push({
        headers: parseHeaders(buf.subarray(start, headerEnd).toString('latin1')),
        body: new Uint8Array(buf.subarray(headerEnd + 4, next)),
      });
    at = next + 2;
  }
}

/** A multipart/related body with one part per item, each of `type`; returns the body and its Content-Type. */
export function buildMultipartRelated(
  items: Uint8Array[],
  type: string,
): { body: Uint8Array; contentType: string } {
  const boundary = `casam-${randomBytes(16).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const item of items) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`));
    chunks.push(Buffer.from(item.buffer, item.byteOffset, item.byteLength));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: new Uint8Array(Buffer.concat(chunks)),
    contentType: `multipart/related; type="${type}"; boundary=${boundary}`,
  };
}

function skipTransportPadding(buf: Buffer, at: number): number {
  while (buf[at] === 0x20 || buf[at] === 0x09) at++;
  return at;
}

function skipLineEnd(buf: Buffer, at: number): number {
  if (buf[at] === 0x0d && buf[at + 1] === 0x0a) return at + 2;
  if (buf[at] === 0x0a) return at + 1;
  return at;
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}
