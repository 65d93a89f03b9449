/**
 * HTTP conditional and range requests for immutable, content-addressed downloads (RFC 9110 §13–14): strong
 * ETags only, one byte range per request (a multi-range request is answered with the whole content, which the
 * RFC allows).
 */

/** Inclusive byte range. */
export interface HttpByteRange {
  start: number;
  end: number;
}

export type RangeDecision =
  /** No usable Range header (absent, not `bytes=`, several ranges, malformed): send everything. */
  | { kind: 'full' }
  | { kind: 'partial'; range: HttpByteRange }
  /** Syntactically fine but outside the content: 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

/** `"<hash>"`: the strong ETag of content named by its hash. */
export function strongEtag(hash: string): string {
  return `"${hash}"`;
}

/**
 * Whether `If-None-Match` matches the current ETag (then answer 304). Weak comparison, as the RFC asks for
 * this header: `W/"x"` matches `"x"`; `*` matches anything.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === bare;
  });
}

/**
 * Whether a Range request may be served partially given its `If-Range` (absent: yes). Only a strong ETag
 * validator can match; a date or a different tag means the client's copy is stale, so it gets everything.
 */
export function ifRangeAllows(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  const tag = header.trim();
  return !tag.startsWith('W/') && tag === etag;
}

/** Interprets a `Range` header against content of `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1].length > 15 || m[2].length > 15) return { kind: 'unsatisfiable' };
  if (m[1] === '') {
    // suffix range: the last n bytes
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - n), end: size - 1 } };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return { kind: 'full' }; // invalid range-spec: the RFC says ignore the header
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end: Math.min(last, size - 1) } };
}

export function contentRange(range: HttpByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}
