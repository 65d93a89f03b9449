import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';

/** The proxy could not open a tunnel to the coordinator (refused, unreachable, or it answered non-2xx). */
export class ProxyError extends Error {
  override name = 'ProxyError';
}

/** The lower-case variable, else the upper-case one; blank counts as unset. */
const envVar = (env: NodeJS.ProcessEnv, name: string): string | undefined =>
  env[name.toLowerCase()]?.trim() || env[name.toUpperCase()]?.trim() || undefined;

/**
 * The outbound proxy for `target`, from the environment as curl and most tools read it: `HTTPS_PROXY` for
 * https targets, `HTTP_PROXY` for http ones (lower-case names win), unless `NO_PROXY` lists the host. NO_PROXY
 * entries: `*` (everything), a host name (matches it and its subdomains; a leading dot or `*.` is the same),
 * an IP address, any of them with `:port`. Returns null when the coordinator is reached directly.
 */
export function proxyFor(target: string | URL, env: NodeJS.ProcessEnv = process.env): URL | null {
  const url = typeof target === 'string' ? new URL(target) : target;
  const raw = envVar(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy');
  if (!raw) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const entry of (envVar(env, 'no_proxy') ?? '').split(/[\s,]+/).filter(Boolean)) {
    if (entry === '*') return null;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.toLowerCase());
    if (!m) continue;
    const h = m[1].replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (m[2] && m[2] !== port) continue;
    if (host === h || (!net.isIP(host) && host.endsWith(`.${h}`))) return null;
  }
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new ProxyError(`the proxy setting "${raw}" is not a URL like http://proxy.hospital.example:3128`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
    throw new ProxyError(
      `proxy ${proxy.origin}: only http:// and https:// proxies are supported (got ${proxy.protocol})`,
    );
  return proxy;
}

/** `proxy` without its credentials, for logs and messages. */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/**
 * Opens a CONNECT tunnel through `proxy` to host:port and resolves with the raw socket, ready for TLS (or plain
 * HTTP) to the coordinator. Basic credentials in the proxy URL are sent as Proxy-Authorization.
 */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const proxyPort = Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
    const socket: net.Socket =
      proxy.protocol === 'https:'
        ? tls.connect({
            host: proxy.hostname,
            port: proxyPort,
            servername: net.isIP(proxy.hostname) ? undefined : proxy.hostname,
          })
        : net.connect({ host: proxy.hostname, port: proxyPort });
    const target = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ProxyError(`proxy ${describeProxy(proxy)} could not open a tunnel to ${target}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('error', (e) => fail(e.message));
    socket.once(proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const auth = proxy.username
        ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}\r\n`
        : '';
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) fail('the proxy answer has no end of headers');
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})([^\r\n]*)/.exec(head.subarray(0, end).toString('latin1'));
      if (!status) return fail('the proxy did not answer HTTP');
      if (!status[1].startsWith('2'))
        return fail(
          `it answered ${status[1]}${status[2]}${status[1] === '407' ? ' (proxy authentication required: put the credentials in the proxy URL, http://user:password@proxy:port)' : ''}`,
        );
      clearTimeout(timer);
      socket.removeAllListeners('error');
      const rest = head.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

type ConnectionCallback = (err: Error | null, socket?: net.Socket) => void;

/**
 * An http(s).Agent whose connections to the coordinator go through a CONNECT tunnel of the proxy; TLS to the
 * coordinator is then negotiated inside the tunnel (end to end: the proxy sees only the host name). Used for
 * the REST calls (through {@link agentFetch}) and for the socket.io websocket.
 */
export function tunnelAgent(proxy: URL, secure: boolean): http.Agent {
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base({ keepAlive: true });
  (
    agent as unknown as {
      createConnection: (o: tls.ConnectionOptions & net.NetConnectOpts, cb: ConnectionCallback) => void;
    }
  ).createConnection = (options, cb) => {
    const host = String(options.host ?? 'localhost');
    const port = Number(options.port ?? (secure ? 443 : 80));
    openTunnel(proxy, host, port).then(
      (raw) => {
        if (!secure) return cb(null, raw);
        const s = tls.connect({
          ...options,
          socket: raw,
          servername: options.servername ?? (net.isIP(host) ? undefined : host),
        });
        s.once('secureConnect', () => cb(null, s));
        s.once('error', (e) => cb(e));
      },
      (e: Error) => cb(e),
    );
  };
  return agent;
}

/**
 * A `fetch` for the egress gateway over node:http(s) with `agent` (the global fetch cannot take an http.Agent).
 * Only what the gateway uses: method, headers, a bytes body, an abort signal; no redirects are followed (the
 * gateway talks to one origin only).
 */
export function agentFetch(agent: http.Agent): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : input);
      const lib = url.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = init.body as Uint8Array | string | undefined | null;
      if (body != null) headers['content-length'] = String(Buffer.byteLength(body));
      const req = lib.request(
        url,
        { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined },
        (res) => {
          const h = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 502;
          const noBody = [101, 103, 204, 205, 304].includes(status) || (init.method ?? 'GET') === 'HEAD';
          if (noBody) res.resume();
          resolve(
            new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage,
              headers: h,
            }),
          );
        },
      );
      req.once('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
      req.end(body ?? undefined);
    })) as typeof fetch;
}

/** How the agent reaches its coordinator: directly, or through the proxy the environment names. */
export interface OutboundRoute {
  fetchImpl: typeof fetch;
  /** For socket.io (and anything else on node:http): the tunnel agent, or undefined when direct. */
  agent?: http.Agent;
  proxy: URL | null;
}

export function outboundRoute(coordinatorUrl: string, env: NodeJS.ProcessEnv = process.env): OutboundRoute {
  const proxy = proxyFor(coordinatorUrl, env);
  if (!proxy) return { fetchImpl: fetch, proxy: null };
  const agent = tunnelAgent(proxy, new URL(coordinatorUrl).protocol === 'https:');
  return { fetchImpl: agentFetch(agent), agent, proxy };
}
