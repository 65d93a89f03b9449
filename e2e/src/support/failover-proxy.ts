import net from 'node:net';

/**
 * A small TCP load balancer in front of coordinator replicas, as an operator's would be: each new connection
 * goes to the first backend (in this proxy's order) that accepts it, so a site is pinned to its preferred
 * replica while that one is up and moves to the next when it is gone. When a backend dies its connections
 * are cut, like a real balancer's.
 */
export class FailoverProxy {
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();
  /** How many connections went to each backend (by its `host:port`). */
  readonly routed = new Map<string, number>();

  private backends: readonly string[];

  private constructor(backends: readonly string[]) {
    this.backends = backends;
    this.server = net.createServer((client) => this.route(client));
  }

  /** A proxy on a free port of 127.0.0.1 in front of these `http://host:port` URLs, in order of preference. */
  static async start(backendUrls: readonly string[]): Promise<FailoverProxy> {
    const p = new FailoverProxy(backendUrls.map((u) => new URL(u).host));
    await new Promise<void>((res, rej) => {
      p.server.once('error', rej);
      p.server.listen(0, '127.0.0.1', () => res());
    });
    return p;
  }

  /** Changes the backends new connections go to (as an operator edits the pool); open ones stay. */
  setBackends(backendUrls: readonly string[]): void {
    this.backends = backendUrls.map((u) => new URL(u).host);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  private route(client: net.Socket): void {
    this.open.add(client);
    client.once('close', () => this.open.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const backends = this.backends;
    const tryBackend = (i: number) => {
      if (i >= backends.length) {
        client.destroy(); // nobody up: the caller sees a reset, as behind a real balancer
        return;
      }
      const [host, port] = splitHost(backends[i]);
      const upstream = net.connect(port, host);
      let connected = false;
      upstream.on('error', () => {
        if (connected) client.destroy();
        else tryBackend(i + 1);
      });
      upstream.once('connect', () => {
        connected = true;
        this.routed.set(backends[i], (this.routed.get(backends[i]) ?? 0) + 1);
        this.open.add(upstream);
        upstream.once('close', () => {
          this.open.delete(upstream);
          client.destroy();
        });
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryBackend(0);
  }
}

function splitHost(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
}
