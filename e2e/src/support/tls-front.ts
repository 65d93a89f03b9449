import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

/** A hospital CA and a certificate for localhost/127.0.0.1 issued by it (valid 10 days), made with openssl. */
export function makeCertificates(dir: string): { ca: string; key: string; cert: string } {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '30',
    '-subj',
    '/CN=St Olav Test CA',
  );
  ossl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ossl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '10',
    '-extfile',
    f('ext.cnf'),
  );
  return { ca: f('ca.pem'), key: f('server.key'), cert: f('server.pem') };
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b).pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

/** One connection the TLS front accepted: the client's port and the first request line it sent. */
export interface FrontConnection {
  remotePort: number;
  firstLine: string;
}

/** A TLS-terminating front (what nginx does) that pipes each decrypted connection to the coordinator's port. */
export interface TlsFront {
  server: tls.Server;
  port: number;
  connections: FrontConnection[];
  close(): Promise<void>;
}

export function startTlsFront(upstream: URL, key: string, cert: string): Promise<TlsFront> {
  const connections: FrontConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const c: FrontConnection = { remotePort: client.remotePort ?? 0, firstLine: '' };
    connections.push(c);
    client.once('data', (d: Buffer) => (c.firstLine = d.toString('latin1').split('\r\n')[0]));
    pipeBoth(client, net.connect(Number(upstream.port), upstream.hostname));
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () =>
      res({
        server,
        port: (server.address() as net.AddressInfo).port,
        connections,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

/** A hospital's outbound HTTP proxy: CONNECT tunnels only, each target recorded; `deny` refuses with 403. */
export interface ConnectProxy {
  url: string;
  /** Every CONNECT target (host:port), in order. */
  connects: string[];
  /** Local ports of the proxy's connections to the targets (what the target sees as the client's port). */
  upstreamPorts: Set<number>;
  deny: boolean;
  close(): Promise<void>;
}

export function startConnectProxy(): Promise<ConnectProxy> {
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end('only CONNECT\n');
  });
  const sockets = new Set<net.Socket>();
  const proxy: ConnectProxy = {
    url: '',
    connects: [],
    upstreamPorts: new Set(),
    deny: false,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    proxy.connects.push(target);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (proxy.deny) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const m = /^(.+):(\d+)$/.exec(target);
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const up = net.connect(Number(m[2]), m[1].replace(/^\[|\]$/g, ''), () => {
      proxy.upstreamPorts.add(up.localPort ?? 0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      pipeBoth(client, up);
    });
    up.once('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () => {
      proxy.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      res(proxy);
    }),
  );
}
