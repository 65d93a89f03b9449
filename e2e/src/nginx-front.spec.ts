import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordinatorProcess, freePort, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { startAgentProcess } from './support/site-agent-process';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';
import { makeCertificates } from './support/tls-front';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const SITE_CONF = resolve(__dirname, '../../deploy/nginx/coordinator.conf');

/** deploy/nginx/coordinator.conf with ports, certificates and names of this test; every edit must apply. */
function siteConf(
  ports: { http: number; https: number; upstream: number },
  cert: string,
  key: string,
): string {
  let conf = readFileSync(SITE_CONF, 'utf8');
  const edit = (from: string | RegExp, to: string) => {
    const next = conf.replace(from, to);
    if (next === conf) throw new Error(`deploy/nginx/coordinator.conf no longer contains ${String(from)}`);
    conf = next;
  };
  edit('listen 80;', `listen 127.0.0.1:${ports.http};`);
  edit('listen 443 ssl http2;', `listen 127.0.0.1:${ports.https} ssl http2;`);
  edit('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.upstream};`);
  edit(/ssl_certificate +\/etc\/ssl\/casam\/coordinator\.fullchain\.pem;/, `ssl_certificate ${cert};`);
  edit(/ssl_certificate_key +\/etc\/ssl\/casam\/coordinator\.key;/, `ssl_certificate_key ${key};`);
  edit(/server_name coordinator\.example\.org;/g, 'server_name localhost;');
  return conf;
}

describe.skipIf(!NGINX)('the coordinator behind nginx with deploy/nginx/coordinator.conf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-nginx-'));
  let coord: CoordinatorProcess;
  let nginx: ChildProcess;
  let nginxLog = '';
  const ports = { http: 0, https: 0, upstream: 0 };
  let ca = '';

  beforeAll(async () => {
    const certs = makeCertificates(dir);
    ca = certs.ca;
    coord = await startCoordinatorProcess();
    ports.upstream = Number(new URL(coord.url).port);
    ports.http = await freePort();
    ports.https = await freePort();
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(dir, d));
    const main = `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr info;
events { worker_connections 256; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${siteConf(ports, certs.cert, certs.key)}
}
`;
    writeFileSync(join(dir, 'nginx.conf'), main);
    nginx = spawn(NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Ready once a worker started: the master binds the listening sockets before it starts workers.
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`nginx did not start within 30 s:\n${nginxLog}`)), 30_000);
      const onData = (d: Buffer) => {
        nginxLog += d.toString();
        if (/start worker process/.test(nginxLog)) {
          clearTimeout(t);
          res();
        }
      };
      nginx.stdout!.on('data', onData);
      nginx.stderr!.on('data', onData);
      nginx.once('exit', (code) => {
        clearTimeout(t);
        rej(new Error(`nginx exited (${code}):\n${nginxLog}`));
      });
    });
    // Plain HTTP only redirects to HTTPS.
    const redirect = await new Promise<http.IncomingMessage>((res, rej) =>
      http.get({ host: '127.0.0.1', port: ports.http, path: '/healthz' }, res).once('error', rej),
    );
    redirect.resume();
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toMatch(/^https:\/\/127\.0\.0\.1\/healthz$/);
  });
  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sites enroll over TLS with the hospital CA, and the daemon keeps its websocket through it', async () => {
    const home = join(dir, 'site');
    const weights = join(dir, 'tiny.safetensors');
    writeTinyBaseModel(weights, 9);
    const url = `https://localhost:${ports.https}`;
    const env = { NODE_EXTRA_CA_CERTS: ca, HTTPS_PROXY: '', https_proxy: '' };
    await enrollApprovedSite(coord, home, agentRunner(home, env), {
      coordinatorUrl: url,
      siteName: 'Behind nginx',
      weights,
    });
    const pre = await siteAgent(home, ['preflight', '--json'], { CASAM_BACKEND: 'wasm', ...env });
    expect(pre.code, pre.stdout + pre.stderr).toBe(0);

    const daemon = startAgentProcess(home, ['daemon'], env);
    try {
      await daemon.waitFor(/connected to the coordinator/, 90_000);
    } finally {
      await daemon.stop();
    }
    // nginx upgraded the websocket (101) on /socket.io/ and served the REST calls.
    const access = readFileSync(join(dir, 'logs', 'access.log'), 'utf8');
    expect(access).toMatch(/"GET \/socket\.io\/\?[^"]*transport=websocket[^"]*" 101 /);
    expect(access).toMatch(/"POST \/api\/v1\/sites\/enroll HTTP\/1\.1" 201 /);
  });
});
