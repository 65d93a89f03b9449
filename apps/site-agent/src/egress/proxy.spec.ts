import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel, outboundRoute, ProxyError, proxyFor } from './proxy';

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

/** A CONNECT proxy in this process: records each request's target and credentials; `answer` other than 200 refuses. */
async function connectProxy() {
  const seen: { target: string; auth?: string }[] = [];
  const state = { answer: 200, silent: false };
  const server = http.createServer((_q, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    seen.push({ target: req.url ?? '', auth: req.headers['proxy-authorization'] });
    if (state.silent) return;
    if (state.answer !== 200) return client.end(`HTTP/1.1 ${state.answer} No\r\ncontent-length: 0\r\n\r\n`);
    const [host, port] = (req.url ?? '').split(':');
    const up = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.pipe(client).pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { server, seen, state, url: `http://agent:s%40cret@127.0.0.1:${port}` };
}

describe('the tunnels (undici) through a CONNECT proxy', () => {
  let target: http.Server;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  let origin = '';
  beforeAll(async () => {
    target = http.createServer((req, res) => res.end(`${req.method} ${req.url}`));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(target.address() as net.AddressInfo).port}`;
    proxy = await connectProxy();
  });
  afterAll(() => {
    target.closeAllConnections();
    target.close();
    proxy.server.closeAllConnections();
    proxy.server.close();
  });

  it('sends the REST calls and the node:http agent (socket.io) through tunnels, with the credentials', async () => {
    const route = outboundRoute(origin, { HTTP_PROXY: proxy.url });
    expect(route.proxy?.host).toBe(proxy.url.replace(/^.*@/, ''));
    const res = await route.fetchImpl(new URL('/healthz', origin), { method: 'GET' });
    expect(await res.text()).toBe('GET /healthz');
    const viaAgent = await new Promise<string>((resolve, reject) => {
      http
        .get(new URL('/socket.io/', origin), { agent: route.agent }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    expect(viaAgent).toBe('GET /socket.io/');
    const hostPort = origin.replace('http://', '');
    expect(proxy.seen.map((s) => s.target)).toEqual([hostPort, hostPort]);
    expect(new Set(proxy.seen.map((s) => s.auth))).toEqual(
      new Set([`Basic ${Buffer.from('agent:s@cret').toString('base64')}`]),
    );
    route.agent?.destroy();
  });

  it('turns a refused tunnel into one ProxyError naming the proxy (no credentials), the target and the answer', async () => {
    proxy.state.answer = 403;
    try {
      const route = outboundRoute(origin, { HTTP_PROXY: proxy.url });
      const err = await route.fetchImpl(new URL('/healthz', origin)).catch((e: Error) => e);
      const cause = (err as Error).cause as Error;
      expect(cause).toBeInstanceOf(ProxyError);
      expect(cause.message).toBe(
        `proxy ${proxy.url.replace('agent:s%40cret@', '')} could not open a tunnel to ${origin.replace('http://', '')}: it answered 403 Forbidden`,
      );
      proxy.state.answer = 407;
      await expect(openTunnel(new URL(proxy.url), '127.0.0.1', 1)).rejects.toThrow(
        /it answered 407 Proxy Authentication Required \(proxy authentication required: put the credentials in the proxy URL/,
      );
    } finally {
      proxy.state.answer = 200;
    }
  });

  it('gives up on a proxy that does not answer, and on one that is not there', async () => {
    proxy.state.silent = true;
    try {
      await expect(openTunnel(new URL(proxy.url), '127.0.0.1', 1, 300)).rejects.toThrow(
        /could not open a tunnel to 127\.0\.0\.1:1: no answer within 300 ms/,
      );
    } finally {
      proxy.state.silent = false;
    }
    await expect(openTunnel(new URL('http://127.0.0.1:1'), 'c.example.org', 443)).rejects.toThrow(
      /^proxy http:\/\/127\.0\.0\.1:1 could not open a tunnel to c\.example\.org:443: .*ECONNREFUSED/,
    );
  });
});
