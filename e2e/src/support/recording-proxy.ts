import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  body: Buffer;
  /** The upstream's status as relayed to the agent; 0 while pending or when the agent got no answer. */
  status: number;
}

/** Cut a request in flight: send only `bytes` of its body upstream, run `meanwhile` (kill the coordinator…), drop it. */
export interface CutRequest {
  cutAfterBytes: number;
  meanwhile: () => Promise<void>;
}

/** Faults a test injects into the traffic (set `proxy.hooks` at any time; each call sees the current hooks). */
export interface ProxyHooks {
  /** The headers sent upstream (e.g. an older protocol version than the agent's); nothing keeps them. */
  requestHeaders?(req: RecordedRequest, headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders | void;
  /** Before a request goes upstream; return a {@link CutRequest} to cut it, or nothing to forward it. */
  request?(req: RecordedRequest): Promise<CutRequest | void> | CutRequest | void;
  /**
   * After the upstream answered, with its whole body: return a body to relay instead (same length: the
   * headers are relayed as they are), 'drop' to cut the agent's connection without an answer, or nothing.
   */
  response?(req: RecordedRequest, body: Buffer): Promise<Buffer | 'drop' | void> | Buffer | 'drop' | void;
}

export interface RecordedWebSocket {
  url: string;
  /** Every byte the client sent after the upgrade request (masked WebSocket frames). */
  clientBytes: Buffer;
}

/**
 * A reverse proxy between a site agent and its coordinator that records every byte the agent sends: the body
 * of each HTTP request and the raw client side of each WebSocket. What the privacy tests read "on the wire".
 * With {@link ProxyHooks} it is also the fault injector of the fault tests: cut requests, altered answers.
 */
export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  hooks: ProxyHooks = {};
  /** Both ends of every proxied WebSocket, to end them on close (the HTTP server no longer tracks them). */
  private readonly tunnels = new Set<net.Socket>();
  readonly sockets: RecordedWebSocket[] = [];
  private server: http.Server | null = null;
  private readonly upstream: URL;

  constructor(upstream: string) {
    this.upstream = new URL(upstream);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const rec: RecordedRequest = {
          method: req.method ?? 'GET',
          url: req.url ?? '',
          body: Buffer.concat(parts),
          status: 0,
        };
        this.requests.push(rec);
        void this.forward(req, rec, res).catch(() => res.destroy());
      });
    });
    this.server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      const rec: RecordedWebSocket = { url: req.url ?? '', clientBytes: Buffer.from(head) };
      this.sockets.push(rec);
      const up = net.connect(Number(this.upstream.port), this.upstream.hostname, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        up.write(lines.join('\r\n') + '\r\n\r\n');
        if (head.length) up.write(head);
        client.on('data', (d: Buffer) => {
          rec.clientBytes = Buffer.concat([rec.clientBytes, d]);
          up.write(d);
        });
        up.pipe(client);
      });
      this.tunnels.add(client).add(up);
      const end = () => {
        client.destroy();
        up.destroy();
        this.tunnels.delete(client);
        this.tunnels.delete(up);
      };
      up.on('error', end);
      client.on('error', end);
      up.on('close', end);
      client.on('close', end);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async forward(req: http.IncomingMessage, rec: RecordedRequest, res: http.ServerResponse) {
    const hooks = this.hooks;
    const cut = await hooks.request?.(rec);
    const up = http.request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: hooks.requestHeaders?.(rec, { ...req.headers }) ?? req.headers,
      },
      (ur) => {
        const status = ur.statusCode ?? 502;
        if (!hooks.response) {
          rec.status = status;
          res.writeHead(status, ur.headers);
          ur.pipe(res);
          return;
        }
        const got: Buffer[] = [];
        ur.on('data', (d: Buffer) => got.push(d));
        ur.on('end', () => {
          void Promise.resolve(hooks.response!(rec, Buffer.concat(got)))
            .then((out) => {
              if (out === 'drop') return res.destroy();
              rec.status = status;
              res.writeHead(status, ur.headers);
              res.end(out ?? Buffer.concat(got));
            })
            .catch(() => res.destroy());
        });
      },
    );
    up.on('error', () => res.destroy());
    if (!cut) return void up.end(rec.body);
    up.write(rec.body.subarray(0, cut.cutAfterBytes));
    await cut.meanwhile();
    up.destroy();
    res.destroy();
  }

  close(): Promise<void> {
    for (const s of this.tunnels) s.destroy();
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** Text payloads of the client's WebSocket frames (unmasked; control frames skipped). */
export function clientTextFrames(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at];
    const b1 = bytes[at + 1];
    const opcode = b0 & 0x0f;
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? bytes.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (p + len > bytes.length) throw new Error(`truncated WebSocket frame at byte ${at}`);
    const payload = Buffer.from(bytes.subarray(p, p + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    if (opcode === 0x1) out.push(payload.toString('utf8'));
    else if (opcode === 0x2 || opcode === 0x0)
      throw new Error(`unexpected binary/continuation frame (opcode ${opcode})`);
    at = p + len;
  }
  return out;
}
