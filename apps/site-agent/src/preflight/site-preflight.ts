import { lookup } from 'node:dns/promises';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { initBackend } from '@casam/casam-core';
import {
  checkProtocolCompatibility,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  type CheckResult,
  type LivenessResponse,
  preflightCheck,
} from '@casam/protocol';
import { BundleStore } from '../bundle/bundle-store';
import { pinnedJwks } from '../bundle/pull-bundle';
import { verifyBundle } from '../bundle/verify-bundle';
import { EgressGateway } from '../egress/egress';
import { EgressLog } from '../egress/egress-log';
import { describeProxy, openTunnel, outboundRoute, type OutboundRoute } from '../egress/proxy';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import { baseModelFingerprint } from '../model/engine-factory';

export type { CheckResult, CheckStatus } from '@casam/protocol';

export interface PreflightOptions {
  /** Also checks that need the network (DNS, TCP, TLS, the coordinator's health and clock). Default true. */
  network?: boolean;
  /** TCP/TLS/HTTP timeout per check. */
  timeoutMs?: number;
  /** Free disk space below which the disk check fails / warns (bytes). */
  minFreeBytes?: number;
  warnFreeBytes?: number;
  /** Receives a line as each check starts (progress on a slow machine). */
  progress?: (line: string) => void;
}

const GiB = 1024 ** 3;
/** The coordinator refuses signed requests whose clock is further off than this (its jose clockTolerance). */
export const MAX_CLOCK_SKEW_S = 30;
const WARN_CLOCK_SKEW_S = 5;
const WARN_CERT_DAYS = 21;

const { ok, warn, fail, skip } = preflightCheck;

const errCode = (e: unknown): string => String((e as { code?: unknown }).code ?? '');
const errText = (e: unknown): string => {
  const code = errCode(e);
  const msg = (e as Error).message ?? String(e);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
};

/**
 * Everything a site needs before it can take part, checked in the order a person would fix it: configuration,
 * the home folder (writable, space), the site key, the network path to the coordinator (DNS, TCP, TLS with the
 * CAs this process trusts, the coordinator's health and protocol, the clock), the TF.js backend and the base
 * model (present, and the one the federation's installed bundle was trained against). Never throws for a
 * failed check: every problem is one result with what to fix.
 */
export async function runSitePreflight(
  homeDir: string | undefined,
  o: PreflightOptions = {},
): Promise<CheckResult[]> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const progress = o.progress ?? (() => undefined);
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);
  const home = new AgentHome(homeDir);

  progress('checking the configuration');
  let config: AgentConfig | null = null;
  try {
    config = home.readConfig();
    add(ok('config', `${home.configFile}: coordinator ${config.coordinatorUrl}, site "${config.siteName}"`));
  } catch (e) {
    add(
      fail(
        'config',
        (e as Error).message,
        'run site-agent init, or correct agent.json (every field is listed in docs/site-agent.md)',
      ),
    );
  }

  progress('checking the agent home');
  add(checkHomeWritable(home));
  add(checkDisk(home, o.minFreeBytes ?? 1 * GiB, o.warnFreeBytes ?? 5 * GiB));

  progress('checking the site key');
  await checkKey(home, add);

  const state = (() => {
    try {
      return home.readState();
    } catch (e) {
      add(fail('state', (e as Error).message, 'restore state.json from backup or re-enroll'));
      return null;
    }
  })();
  if (state)
    add(
      state.siteId
        ? ok(
            'enrollment',
            `site ${state.siteId}, ${state.enrollment?.status ?? 'unknown'} when last checked; ${state.coordinatorKeys?.length ?? 0} coordinator key(s) pinned`,
          )
        : warn(
            'enrollment',
            'not enrolled yet',
            'run site-agent enroll --token <token from the federation admin>',
          ),
    );

  add(checkExtraCa());

  if (config && o.network !== false) {
    const url = new URL(config.coordinatorUrl);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    let route: OutboundRoute | null = null;
    try {
      route = outboundRoute(config.coordinatorUrl);
    } catch (e) {
      add(
        fail(
          'proxy',
          (e as Error).message,
          'correct HTTPS_PROXY / HTTP_PROXY in the agent environment (e.g. http://proxy.hospital.example:3128)',
        ),
      );
    }
    // Through a proxy, this machine resolves and reaches the proxy; the proxy resolves the coordinator.
    const first = route?.proxy
      ? {
          host: route.proxy.hostname.replace(/^\[|\]$/g, ''),
          port: Number(route.proxy.port || (route.proxy.protocol === 'https:' ? 443 : 80)),
        }
      : { host, port };
    progress(`resolving ${first.host}`);
    const dnsOk = route !== null && (await checkDns(first.host, add));
    let tcpOk = false;
    if (dnsOk) {
      progress(`connecting to ${first.host}:${first.port}`);
      tcpOk = await checkTcp(first.host, first.port, timeoutMs, add);
    } else if (route) add(skip('tcp', `not checked: ${first.host} does not resolve`));
    let tunnel: (() => Promise<Socket>) | undefined;
    if (tcpOk && route?.proxy) {
      const proxy = route.proxy;
      progress(`asking the proxy ${describeProxy(proxy)} for a tunnel to ${host}:${port}`);
      try {
        (await openTunnel(proxy, host, port, timeoutMs)).destroy();
        add(ok('proxy', `${describeProxy(proxy)} (from HTTPS_PROXY/HTTP_PROXY) tunnels to ${host}:${port}`));
        tunnel = () => openTunnel(proxy, host, port, timeoutMs);
      } catch (e) {
        tcpOk = false;
        add(
          fail(
            'proxy',
            (e as Error).message,
            `ask the proxy's administrators to allow CONNECT to ${host}:${port}, or list ${host} in NO_PROXY if it is reached directly`,
          ),
        );
      }
    } else if (route && !route.proxy) add(ok('proxy', 'none: the coordinator is reached directly'));
    let tlsOk = tcpOk;
    if (tcpOk && url.protocol === 'https:') {
      progress(`TLS handshake with ${host}:${port}`);
      tlsOk = await checkTls(host, port, timeoutMs, add, tunnel);
    } else if (url.protocol === 'http:')
      add(
        warn(
          'tls',
          `plain http to ${url.host}: weights and tokens travel unencrypted`,
          'put the coordinator behind TLS (deploy/nginx/coordinator.conf) and use an https:// coordinatorUrl',
        ),
      );
    else add(skip('tls', 'not checked: no connection'));
    if (route && tcpOk && tlsOk) {
      progress('asking the coordinator for its health');
      await checkCoordinator(config, home, route, timeoutMs, add);
    } else {
      add(skip('coordinator', 'not asked: the connection does not work'));
      add(skip('clock', 'not compared with the coordinator: the connection does not work'));
    }
  } else if (o.network === false) add(skip('network', 'not checked (--offline)'));

  progress('initialising the TF.js backend');
  await checkBackend(config, add);

  if (config) {
    progress('checking the base model');
    await checkModel(home, config, state, add);
  } else add(skip('model', 'not checked: no valid configuration'));

  return results;
}

function checkHomeWritable(home: AgentHome): CheckResult {
  if (!existsSync(home.dir))
    return fail(
      'home',
      `${home.dir} does not exist`,
      `run site-agent init (or create it, owned by the agent's user)`,
    );
  const probe = join(home.dir, `.preflight-${process.pid}`);
  try {
    const fd = openSync(probe, 'wx', 0o600);
    try {
      writeSync(fd, 'preflight\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (e) {
    return fail(
      'home',
      `cannot write in ${home.dir}: ${errText(e)}`,
      `make ${home.dir} writable by the user the agent runs as (e.g. chown -R casam-agent: ${home.dir}), and ReadWritePaths= in its systemd unit`,
    );
  }
  // The home holds the site key, patient image paths and image slices: operations.md requires 0700.
  const mode = statSync(home.dir).mode & 0o777;
  if (mode & 0o077)
    return fail(
      'home',
      `${home.dir} is open to ${mode & 0o007 ? 'every user' : 'its group'} (mode ${mode.toString(8).padStart(3, '0')}); it must be 0700`,
      `chmod 0700 ${home.dir} (owned by the agent's user; systemd: StateDirectoryMode=0700)`,
    );
  return ok('home', `${home.dir} is writable (mode ${mode.toString(8).padStart(3, '0')})`);
}

function checkDisk(home: AgentHome, minFree: number, warnFree: number): CheckResult {
  if (!existsSync(home.dir)) return skip('disk', `${home.dir} does not exist`);
  const s = statfsSync(home.dir);
  const free = s.bavail * s.bsize;
  const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;
  const detail = `${gib(free)} free of ${gib(s.blocks * s.bsize)} on the file system of ${home.dir}`;
  if (free < minFree)
    return fail(
      'disk',
      detail,
      `free space: training caches, checkpoints and bundles need at least ${gib(minFree)}`,
    );
  if (free < warnFree)
    return warn(
      'disk',
      detail,
      `at least ${gib(warnFree)} is advised (embedding cache, checkpoints, two bundles)`,
    );
  return ok('disk', detail);
}

async function checkKey(home: AgentHome, add: (r: CheckResult) => void): Promise<void> {
  if (!existsSync(home.keyFile)) {
    add(fail('key', `no site key at ${home.keyFile}`, 'run site-agent init (or restore keys/ from backup)'));
    return;
  }
  try {
    const id = await SiteIdentity.load(home.keyFile);
    add(ok('key', `${home.keyFile} (mode 600), fingerprint ${id.fingerprint}`));
  } catch (e) {
    add(
      fail(
        'key',
        (e as Error).message,
        `chmod 600 ${home.keyFile}, owned by the agent's user; or restore it from backup`,
      ),
    );
  }
}

/** NODE_EXTRA_CA_CERTS: Node only warns on stderr when the file is missing or unreadable; say it plainly here. */
function checkExtraCa(): CheckResult {
  const file = process.env['NODE_EXTRA_CA_CERTS'];
  if (!file) return ok('ca', 'system CA store (NODE_EXTRA_CA_CERTS not set)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail(
      'ca',
      `NODE_EXTRA_CA_CERTS=${file} cannot be read: ${errText(e)}`,
      'point NODE_EXTRA_CA_CERTS at a readable PEM file with the hospital CA certificate(s)',
    );
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0)
    return fail(
      'ca',
      `NODE_EXTRA_CA_CERTS=${file} holds no PEM certificate`,
      'export the CA certificate as PEM (openssl x509 -in ca.der -inform der -out ca.pem)',
    );
  const subjects: string[] = [];
  for (const p of pems) {
    try {
      subjects.push(new X509Certificate(p).subject.replace(/\n/g, ', '));
    } catch (e) {
      return fail(
        'ca',
        `NODE_EXTRA_CA_CERTS=${file}: a certificate does not parse (${errText(e)})`,
        'replace the file with valid PEM certificates',
      );
    }
  }
  return ok(
    'ca',
    `system CA store plus ${pems.length} from NODE_EXTRA_CA_CERTS=${file} (${subjects.slice(0, 3).join('; ')}${subjects.length > 3 ? `; … ${subjects.length - 3} more` : ''})`,
  );
}

async function checkDns(host: string, add: (r: CheckResult) => void): Promise<boolean> {
  if (isIP(host)) {
    add(ok('dns', `${host} is an IP address`));
    return true;
  }
  try {
    const addrs = await lookup(host, { all: true });
    add(ok('dns', `${host} → ${addrs.map((a) => a.address).join(', ')}`));
    return true;
  } catch (e) {
    add(
      fail(
        'dns',
        `cannot resolve ${host}: ${errText(e)}`,
        `check the DNS servers of this machine (or /etc/hosts), and coordinatorUrl in agent.json`,
      ),
    );
    return false;
  }
}

/**
 * The one way a socket probe ends: its first outcome, or `timedOut()` after `timeoutMs`, closes the socket, records
 * the result and resolves the probe; the returned function reports an outcome.
 */
function settleProbe(
  s: Socket,
  timeoutMs: number,
  add: (r: CheckResult) => void,
  resolve: (good: boolean) => void,
  timedOut: () => CheckResult,
): (r: CheckResult, good: boolean) => void {
  const timer = setTimeout(() => done(timedOut(), false), timeoutMs);
  const done = (r: CheckResult, good: boolean): void => {
    s.destroy();
    clearTimeout(timer);
    add(r);
    resolve(good);
  };
  return done;
}

function checkTcp(
  host: string,
  port: number,
  timeoutMs: number,
  add: (r: CheckResult) => void,
): Promise<boolean> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = settleProbe(s, timeoutMs, add, resolve, () =>
      fail(
        'tcp',
        `no answer from ${host}:${port} within ${timeoutMs} ms`,
        `a firewall probably drops it: ask for outbound tcp/${port} to ${host} to be opened`,
      ),
    );
    s.once('connect', () =>
      done(ok('tcp', `connected to ${host}:${port} in ${Math.round(performance.now() - t0)} ms`), true),
    );
    s.once('error', (e) => {
      const code = errCode(e);
      const fix =
        code === 'ECONNREFUSED'
          ? `nothing listens on ${host}:${port}: is the coordinator (or its reverse proxy) running, and is the port in coordinatorUrl right?`
          : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
            ? `no route to ${host}: check this machine's network and routes`
            : `check the network path to ${host}:${port}`;
      done(fail('tcp', `cannot connect to ${host}:${port}: ${errText(e)}`, fix), false);
    });
  });
}

const TLS_FIXES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    'the certificate is issued by a CA this machine does not trust: put the hospital CA (PEM) in a file and set NODE_EXTRA_CA_CERTS=<file> in the agent environment',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'the certificate is issued by a CA this machine does not trust: put the hospital CA (PEM) in a file and set NODE_EXTRA_CA_CERTS=<file> in the agent environment',
  SELF_SIGNED_CERT_IN_CHAIN:
    'the chain ends in a CA this machine does not trust: set NODE_EXTRA_CA_CERTS=<file with that CA certificate, PEM>',
  DEPTH_ZERO_SELF_SIGNED_CERT:
    'the coordinator uses a self-signed certificate: issue one from the hospital CA, or trust it with NODE_EXTRA_CA_CERTS=<its PEM>',
  CERT_HAS_EXPIRED: 'the coordinator certificate has expired: its operator must renew it',
  CERT_NOT_YET_VALID:
    "the certificate is not valid yet: check this machine's clock (and the coordinator's certificate)",
  ERR_TLS_CERT_ALTNAME_INVALID:
    'the certificate does not name this host: use the host name it was issued for in coordinatorUrl, or reissue it',
};

function checkTls(
  host: string,
  port: number,
  timeoutMs: number,
  add: (r: CheckResult) => void,
  tunnel?: () => Promise<Socket>,
): Promise<boolean> {
  return new Promise((resolve) => {
    void (tunnel ? tunnel() : Promise.resolve(undefined)).then(
      (socket) => handshake(socket),
      (e: Error) => {
        add(fail('tls', e.message, 'the proxy stopped tunnelling: check it'));
        resolve(false);
      },
    );
    const handshake = (socket: Socket | undefined) => {
      const s = tlsConnect({
        host,
        port,
        socket,
        servername: isIP(host) ? undefined : host,
        ALPNProtocols: ['http/1.1'],
      });
      const done = settleProbe(s, timeoutMs, add, resolve, () =>
        fail(
          'tls',
          `no TLS handshake with ${host}:${port} within ${timeoutMs} ms`,
          `is ${host}:${port} a TLS port? (an http:// coordinatorUrl is needed for plain HTTP)`,
        ),
      );
      s.once('secureConnect', () => {
        const cert: PeerCertificate = s.getPeerCertificate();
        const days = Math.floor((Date.parse(cert.valid_to) - Date.now()) / 86_400_000);
        const detail = `${s.getProtocol() ?? 'TLS'}, certificate ${cert.subject?.CN ?? '?'} issued by ${cert.issuer?.CN ?? cert.issuer?.O ?? '?'}, valid until ${new Date(cert.valid_to).toISOString().slice(0, 10)} (${days} days)`;
        done(
          days < WARN_CERT_DAYS
            ? warn(
                'tls',
                detail,
                `the coordinator certificate expires in ${days} days: its operator should renew it`,
              )
            : ok('tls', detail),
          true,
        );
      });
      s.once('error', (e) => {
        const code = errCode(e);
        done(
          fail(
            'tls',
            `TLS with ${host}:${port} failed: ${errText(e)}`,
            TLS_FIXES[code] ?? `check the TLS setup of ${host}:${port}`,
          ),
          false,
        );
      });
    };
  });
}

async function checkCoordinator(
  config: AgentConfig,
  home: AgentHome,
  route: OutboundRoute,
  timeoutMs: number,
  add: (r: CheckResult) => void,
): Promise<void> {
  const egress = new EgressGateway(
    config.coordinatorUrl,
    new EgressLog(home.egressLogFile),
    route.fetchImpl,
    route.agent,
  );
  const t0 = Date.now();
  let res: Response;
  try {
    res = await egress.request('read_health', {
      path: '/healthz',
      headers: { [PROTOCOL_HEADER]: PROTOCOL_VERSION },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    add(
      fail(
        'coordinator',
        `GET /healthz failed: ${errText(cause ?? e)}`,
        'the connection works but HTTP does not: check a proxy or load balancer in between',
      ),
    );
    add(skip('clock', 'not compared: no answer from the coordinator'));
    return;
  }
  const t1 = Date.now();
  const body = (await res.json().catch(() => null)) as Partial<LivenessResponse> | null;
  if (res.status !== 200 || !body || body.status !== 'ok' || typeof body.protocolVersion !== 'string') {
    add(
      fail(
        'coordinator',
        `GET ${config.coordinatorUrl}/healthz answered ${res.status}${body ? '' : ' (not JSON)'}: this is not a CA-SAM coordinator, or it is unhealthy`,
        'check coordinatorUrl in agent.json and that the reverse proxy forwards to the coordinator',
      ),
    );
  } else {
    const compat = checkProtocolCompatibility(PROTOCOL_VERSION, body.protocolVersion);
    if (!compat.ok)
      add(
        fail(
          'coordinator',
          `coordinator ${body.version}, protocol ${body.protocolVersion}: ${compat.message}`,
          'upgrade the side that is behind (docs/operations.md, "Upgrades")',
        ),
      );
    else if (compat.outdated)
      add(
        warn(
          'coordinator',
          `coordinator ${body.version} speaks protocol ${body.protocolVersion}; this agent ${PROTOCOL_VERSION}`,
          'upgrade this site agent (it is served, one minor version behind)',
        ),
      );
    else
      add(
        ok(
          'coordinator',
          `coordinator ${body.version} answers in ${t1 - t0} ms, protocol ${body.protocolVersion} (this agent ${PROTOCOL_VERSION})`,
        ),
      );
  }
  const date = res.headers.get('date');
  const server = date ? Date.parse(date) : NaN;
  if (Number.isNaN(server)) {
    add(
      warn(
        'clock',
        'the coordinator sent no Date header; clock not compared',
        'keep this machine on NTP (timedatectl set-ntp true)',
      ),
    );
    return;
  }
  // The Date header has 1 s resolution: compare with the middle of the request, allow 1 s either way.
  const skewS = (server + 500 - (t0 + t1) / 2) / 1000;
  const rounded = Math.round(skewS);
  const detail = `this machine is ${Math.abs(rounded)} s ${skewS > 0 ? 'behind' : 'ahead of'} the coordinator (±1 s)`;
  if (Math.abs(skewS) - 1 > MAX_CLOCK_SKEW_S)
    add(
      fail(
        'clock',
        detail,
        `the coordinator refuses signed requests more than ${MAX_CLOCK_SKEW_S} s off: synchronise the clock (timedatectl set-ntp true, or the hospital NTP server)`,
      ),
    );
  else if (Math.abs(skewS) - 1 > WARN_CLOCK_SKEW_S)
    add(warn('clock', detail, `synchronise the clock with NTP before it drifts past ${MAX_CLOCK_SKEW_S} s`));
  else add(ok('clock', detail));
}

async function checkBackend(config: AgentConfig | null, add: (r: CheckResult) => void): Promise<void> {
  try {
    const info = await initBackend({ prefer: config?.backend ?? 'auto', log: () => undefined });
    add(ok('backend', info.summary.replace(/^backend: /, '')));
  } catch (e) {
    add(
      fail(
        'backend',
        (e as Error).message,
        `install the backend named above, or set "backend": "auto" in agent.json (wasm always works, slower)`,
      ),
    );
  }
}

async function checkModel(
  home: AgentHome,
  config: AgentConfig,
  state: ReturnType<AgentHome['readState']> | null,
  add: (r: CheckResult) => void,
): Promise<void> {
  const path = home.weightsPath(config);
  if (!existsSync(path)) {
    add(
      fail(
        'model',
        `base-model weights not found: ${path}`,
        `copy the federation's base model file there, or set model.weights in ${home.configFile}`,
      ),
    );
    return;
  }
  let fingerprint: string;
  try {
    fingerprint = baseModelFingerprint(home, config);
  } catch (e) {
    add(
      fail(
        'model',
        (e as Error).message,
        `replace ${path} with the federation's base model (preset ${config.model.preset})`,
      ),
    );
    return;
  }
  const store = new BundleStore(home.bundlesDir);
  const pointer = store.pointer();
  if (pointer.damage)
    add(
      fail(
        'bundle',
        pointer.damage,
        'run site-agent pull (it installs the newest bundle and writes current.json again), or restore bundles/current.json from backup',
      ),
    );
  const current = pointer.current;
  if (!current || !state) {
    add(
      ok(
        'model',
        `${config.model.preset} ${path}, fingerprint ${fingerprint} (no bundle installed yet to compare with the federation's)`,
      ),
    );
    return;
  }
  let federation: { preset: string; fingerprint: string } | null;
  try {
    const v = await verifyBundle(store.read(current), pinnedJwks(state, { includeRetired: true }), {
      expectedContentHash: current.contentHash,
    });
    federation = v.manifest.baseModel;
  } catch (e) {
    add(ok('model', `${config.model.preset} ${path}, fingerprint ${fingerprint}`));
    add(
      fail(
        'bundle',
        `installed bundle ${current.version} fails verification: ${(e as Error).message}`,
        'run site-agent pull (or site-agent rollback)',
      ),
    );
    return;
  }
  if (federation && federation.fingerprint !== fingerprint)
    add(
      fail(
        'model',
        `${path} has fingerprint ${fingerprint}, but the federation's base model (bundle ${current.version}) is ${federation.preset} ${federation.fingerprint}`,
        `bring the federation's base model file (ask the federation admin which one) and point model.weights at it; adapters trained on another base model are not used`,
      ),
    );
  else
    add(
      ok(
        'model',
        `${config.model.preset} ${path}, fingerprint ${fingerprint}${federation ? ` = the federation's (bundle ${current.version})` : ''}`,
      ),
    );
}
