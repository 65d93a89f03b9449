import { describe, expect, it } from 'vitest';
import { contentRange, ifNoneMatchHits, ifRangeAllows, parseRange, strongEtag } from './http-range';

describe('parseRange', () => {
  it('reads closed, open and suffix ranges, clamped to the content', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ kind: 'partial', range: { start: 0, end: 99 } });
    expect(parseRange('bytes=900-', 1000)).toEqual({ kind: 'partial', range: { start: 900, end: 999 } });
    expect(parseRange('bytes=990-5000', 1000)).toEqual({ kind: 'partial', range: { start: 990, end: 999 } });
    expect(parseRange('bytes=-10', 1000)).toEqual({ kind: 'partial', range: { start: 990, end: 999 } });
    expect(parseRange('bytes=-5000', 1000)).toEqual({ kind: 'partial', range: { start: 0, end: 999 } });
    expect(parseRange(' Bytes = 5 - 5 ', 1000)).toEqual({ kind: 'partial', range: { start: 5, end: 5 } });
  });

  it('calls ranges outside the content unsatisfiable', () => {
    expect(parseRange('bytes=1000-', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=1000-2000', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=99999999999999999999-', 10)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores what it does not serve: no header, other units, several ranges, garbage, reversed ranges', () => {
    for (const h of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=a-b', 'bytes=-', 'bytes=5-1'])
      expect(parseRange(h, 1000)).toEqual({ kind: 'full' });
  });

  it('formats Content-Range', () => {
    expect(contentRange({ start: 0, end: 99 }, 1000)).toBe('bytes 0-99/1000');
  });
});

describe('conditional requests', () => {
  const etag = strongEtag('ab'.repeat(32));

  it('If-None-Match matches its own tag, weak forms, lists and *', () => {
    expect(ifNoneMatchHits(undefined, etag)).toBe(false);
    expect(ifNoneMatchHits(etag, etag)).toBe(true);
    expect(ifNoneMatchHits(`"other", W/${etag}`, etag)).toBe(true);
    expect(ifNoneMatchHits('*', etag)).toBe(true);
    expect(ifNoneMatchHits('"other"', etag)).toBe(false);
  });

  it('If-Range admits a partial answer only for the same strong tag', () => {
    expect(ifRangeAllows(undefined, etag)).toBe(true);
    expect(ifRangeAllows(etag, etag)).toBe(true);
    expect(ifRangeAllows(`W/${etag}`, etag)).toBe(false);
    expect(ifRangeAllows('"other"', etag)).toBe(false);
    expect(ifRangeAllows('Wed, 21 Oct 2015 07:28:00 GMT', etag)).toBe(false);
  });
});
