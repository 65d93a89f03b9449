/**
 * How the agent reaches its one coordinator through the hospital's HTTP proxy. The tunnels are undici's: its
 * ProxyAgent carries the REST calls (CONNECT, then TLS to the coordinator inside the tunnel, end to end), and
 * its CONNECT request opens the tunnels that the socket.io websocket and preflight's TLS check run through.
 *
 * Written here, and why: which proxy applies is read from the environment by `proxyFor`, not by undici's
 * EnvHttpProxyAgent, because the agent itself must know the answer (preflight checks that proxy; the websocket
 * needs a tunnel too) and because EnvHttpProxyAgent reads the variables differently from the documented,
 * curl-like rules (a blank `https_proxy` hides `HTTPS_PROXY`; `*` counts only alone; `NO_PROXY=1.2.3` also
 * exempts the address 10.1.2.3). The websocket (socket.io → ws) takes only a node:http Agent, so `tunnelAgent`
 * hands undici's tunnel to it; `ProxyClient` turns a refused or unreachable proxy into one clear ProxyError.
 */
import http, { STATUS_CODES } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { type Dispatcher, fetch as undiciFetch, Pool, ProxyAgent } from 'undici';

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
 * undici's connection pool to the proxy, through which every CONNECT goes (ProxyAgent's and `openTunnel`'s).
 * A tunnel the proxy refuses, or a proxy that cannot be reached, fails as a ProxyError that names the proxy,
 * the target and the answer, so the coordinator client can tell it from a network error worth retrying.
 */
class ProxyClient extends Pool {
  constructor(
    readonly proxy: URL,
    /** How long the proxy has to accept the connection, and then to answer the CONNECT. */
    readonly timeoutMs = 10_000,
  ) {
    super(proxy.origin, { connect: { timeout: timeoutMs }, headersTimeout: timeoutMs });
  }

  // One implementation for both of undici's forms (promise, callback); ProxyAgent uses the promise.
  override connect(
    o: Dispatcher.ConnectOptions,
    cb?: (e: Error | null, d: Dispatcher.ConnectData) => void,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): any {
    const done = this.tunnel(o);
    if (!cb) return done;
    done.then(
      (d) => cb(null, d),
      (e: Error) => cb(e, undefined as never),
    );
  }

  private async tunnel(o: Dispatcher.ConnectOptions): Promise<Dispatcher.ConnectData> {
    const fail = (why: string) =>
      new ProxyError(`proxy ${describeProxy(this.proxy)} could not open a tunnel to ${o.path}: ${why}`);
    let d: Dispatcher.ConnectData;
    try {
      d = await super.connect(o);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw fail(
        code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT'
          ? `no answer within ${this.timeoutMs} ms`
          : (e as Error).message,
      );
    }
    if (d.statusCode !== 200) {
      d.socket.on('error', () => {}).destroy();
      const code = d.statusCode;
      throw fail(
        `it answered ${code} ${STATUS_CODES[code] ?? ''}`.trimEnd() +
          (code === 407
            ? ' (proxy authentication required: put the credentials in the proxy URL, http://user:password@proxy:port)'
            : ''),
      );
    }
    return d;
  }
}

/** Basic credentials from the proxy URL, as ProxyAgent sends them. */
function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(user).toString('base64')}` };
}

/** `host:port` as a CONNECT request names it. */
const authority = (host: string, port: number) => `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;

async function tunnelThrough(client: ProxyClient, host: string, port: number): Promise<net.Socket> {
  const target = authority(host, port);
  const { socket } = await client.connect({
    origin: client.proxy.origin,
    path: target,
    headers: { host: target, ...proxyAuthorization(client.proxy) },
  });
  // undici hands over the proxy connection's own socket (net.Socket, or tls.TLSSocket for an https proxy).
  return socket as net.Socket;
}

/**
 * Opens a CONNECT tunnel through `proxy` to host:port and resolves with the raw socket, ready for TLS (or plain
 * HTTP) to the coordinator. For preflight, which checks the proxy and the TLS handshake inside the tunnel.
 */
export async function openTunnel(
  proxy: URL,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<net.Socket> {
  const client = new ProxyClient(proxy, timeoutMs);
  try {
    return await tunnelThrough(client, host, port);
  } finally {
    void client.close();
  }
}

type ConnectionCallback = (err: Error | null, socket?: net.Socket) => void;

/**
 * An http(s).Agent whose connections go through an undici tunnel of the proxy, TLS to the coordinator
 * negotiated inside it: for the socket.io websocket, whose ws client takes a node:http Agent, not a dispatcher.
 */
function tunnelAgent(client: ProxyClient, secure: boolean): http.Agent {
  const agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true });
  (
    agent as unknown as {
      createConnection: (o: tls.ConnectionOptions & net.NetConnectOpts, cb: ConnectionCallback) => void;
    }
  ).createConnection = (options, cb) => {
    const host = String(options.host ?? 'localhost');
    tunnelThrough(client, host, Number(options.port ?? (secure ? 443 : 80))).then(
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
  const client = new ProxyClient(proxy);
  const dispatcher = new ProxyAgent({ uri: proxy.href, clientFactory: () => client });
  const fetchImpl = ((input: string | URL, init: RequestInit = {}) =>
    undiciFetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch;
  return {
    fetchImpl,
    agent: tunnelAgent(client, new URL(coordinatorUrl).protocol === 'https:'),
    proxy,
  };
}
