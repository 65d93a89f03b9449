import { describe, expect, it } from 'vitest';
import { ProxyError, proxyFor } from './proxy';

const P = 'http://proxy.hospital.example:3128';

describe('proxyFor', () => {
  it('takes HTTPS_PROXY for https and HTTP_PROXY for http; lower case wins, blank is unset', () => {
    expect(proxyFor('https://c.example.org', { HTTPS_PROXY: P })?.host).toBe('proxy.hospital.example:3128');
    expect(proxyFor('http://c.example.org', { HTTPS_PROXY: P })).toBeNull();
    expect(proxyFor('http://c.example.org', { HTTP_PROXY: P })?.host).toBe('proxy.hospital.example:3128');
    expect(proxyFor('https://c.example.org', { https_proxy: 'http://a:1', HTTPS_PROXY: P })?.host).toBe(
      'a:1',
    );
    expect(proxyFor('https://c.example.org', { https_proxy: ' ', HTTPS_PROXY: P })?.host).toBe(
      'proxy.hospital.example:3128',
    );
    expect(proxyFor('https://c.example.org', { HTTPS_PROXY: 'proxy:8080' })?.href).toBe('http://proxy:8080/');
    expect(proxyFor('https://c.example.org', {})).toBeNull();
  });

  it('honours NO_PROXY: *, host and subdomains, leading dot, *., IP, port', () => {
    const via = (url: string, no: string) => proxyFor(url, { HTTPS_PROXY: P, NO_PROXY: no }) !== null;
    expect(via('https://c.example.org', '*')).toBe(false);
    expect(via('https://c.example.org', 'example.org')).toBe(false);
    expect(via('https://c.example.org', '.example.org')).toBe(false);
    expect(via('https://c.example.org', '*.example.org')).toBe(false);
    expect(via('https://c.example.org', 'other.org, c.example.org')).toBe(false);
    expect(via('https://notexample.org', 'example.org')).toBe(true);
    expect(via('https://c.example.org:8443', 'c.example.org:443')).toBe(true);
    expect(via('https://c.example.org:8443', 'c.example.org:8443')).toBe(false);
    expect(via('https://10.1.2.3', '10.1.2.3')).toBe(false);
    expect(via('https://10.1.2.3', '1.2.3')).toBe(true);
    expect(via('https://[::1]:9000', '[::1]')).toBe(false);
  });

  it('refuses a proxy setting that is not an http(s) URL, naming it', () => {
    expect(() => proxyFor('https://c.example.org', { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(ProxyError);
    expect(() => proxyFor('https://c.example.org', { HTTPS_PROXY: 'http://[bad' })).toThrow(/is not a URL/);
  });
});
