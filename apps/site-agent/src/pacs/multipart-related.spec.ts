import { describe, expect, it } from 'vitest';
import { buildMultipartRelated, multipartBoundary, parseMultipart } from './multipart-related';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('multipart/related', () => {
  it('round-trips parts whose bytes contain CRLFs and dashes', () => {
    const items = [
      bytes('first\r\n--not-a-boundary\r\n'),
      new Uint8Array([0, 13, 10, 45, 45, 255]),
      bytes(''),
    ];
    const { body, contentType } = buildMultipartRelated(items, 'application/dicom');
    expect(contentType).toMatch(
      /^multipart\/related; type="application\/dicom"; boundary=casam-[0-9a-f]{32}$/,
    );
    const parts = parseMultipart(body, multipartBoundary(contentType)!);
    expect(parts.map((p) => Array.from(p.body))).toEqual(items.map((i) => Array.from(i)));
    expect(parts[0].headers['content-type']).toBe('application/dicom');
  });

  it('reads quoted boundaries, a preamble, folded headers and parts without headers', () => {
    expect(multipartBoundary('multipart/related; type="application/dicom"; boundary="a b:c"')).toBe('a b:c');
    expect(multipartBoundary('application/dicom+json')).toBeNull();
    const body = bytes(
      'preamble\r\n--XyZ\r\nContent-Type: application/dicom\r\nContent-Location:\r\n /x\r\n\r\nONE\r\n' +
        '--XyZ\r\n\r\nTWO\r\n--XyZ--\r\nepilogue',
    );
    const parts = parseMultipart(body, 'XyZ');
    expect(parts.map((p) => text(p.body))).toEqual(['ONE', 'TWO']);
    expect(parts[0].headers['content-location']).toBe('/x');
    expect(parts[1].headers).toEqual({});
  });

  it('refuses a truncated body rather than returning fewer parts', () => {
    expect(() => parseMultipart(bytes('--b\r\nContent-Type: x\r\n\r\nhalf a fi'), 'b')).toThrow(/truncated/);
    expect(() => parseMultipart(bytes('no boundary here'), 'b')).toThrow(/no boundary/);
  });
});
