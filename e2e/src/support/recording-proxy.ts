import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  body: Buffer;
}

export interface RecordedWebSocket {
  url: string;
  /** Every byte the client sent after the upgrade request (masked WebSocket frames). */
  clientBytes: Buffer;
}

/**
 * A reverse proxy between a site agent and its coordinator that records every byte the agent sends: the body
 * of each HTTP request and the raw client side of each WebSocket. What the privacy tests read "on the wire".
 */
export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
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
        const body = Buffer.concat(parts);
        this.requests.push({ method: req.method ?? 'GET', url: req.url ?? '', body });
        const up = http.request(
          {
            host: this.upstream.hostname,
            port: this.upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        up.end(body);
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
      const end = () => {
        client.destroy();
        up.destroy();
      };
      up.on('error', end);
      client.on('error', end);
      up.on('close', end);
      client.on('close', end);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
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
