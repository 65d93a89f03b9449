/**
 * A throwaway Orthanc PACS for tests, as the coordinator's tests start a throwaway Postgres: Debian's
 * `/usr/sbin/Orthanc` with its DICOMweb plugin, a generated configuration, storage and index in a temporary
 * directory, a free loopback port. Orthanc 1.10 has no bind-address setting (it listens on all interfaces);
 * `RemoteAccessAllowed: false` makes it refuse every client that is not on this machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ORTHANC_BIN = '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface OrthancOptions {
  /** HTTP basic credentials Orthanc demands of every request; none: authentication off. */
  auth?: { user: string; password: string };
  /** Load the DICOMweb plugin at `/dicom-web/` (QIDO-RS, WADO-RS, STOW-RS). */
  dicomWeb?: boolean;
  /** How long Orthanc has to answer `GET /system` (default 30 s; the machine may be busy). */
  startTimeoutMs?: number;
}

export interface OrthancServer {
  readonly port: number;
  /** Its temporary directory (configuration, storage, index); removed by stop(). */
  readonly dir: string;
  /** `http://127.0.0.1:<port>` (Orthanc's REST API). */
  readonly url: string;
  /** `http://127.0.0.1:<port>/dicom-web` (no trailing slash), when started with `dicomWeb`. */
  readonly dicomWebUrl: string;
  /** Stores one DICOM Part 10 file through the REST API (`POST /instances`); returns Orthanc's answer. */
  upload(bytes: Uint8Array): Promise<{ ID: string; ParentStudy: string; Status: string }>;
  /** Stops Orthanc and removes its directory; idempotent. */
  stop(): Promise<void>;
}

/** True when Orthanc and its DICOMweb plugin are installed (Debian: `orthanc`, `orthanc-dicomweb`). */
export function orthancAvailable(): boolean {
  return fs.existsSync(ORTHANC_BIN) && fs.existsSync(ORTHANC_DICOMWEB_PLUGIN);
}

export async function startOrthanc(opts: OrthancOptions = {}): Promise<OrthancServer> {
  if (!fs.existsSync(ORTHANC_BIN) || (opts.dicomWeb && !fs.existsSync(ORTHANC_DICOMWEB_PLUGIN)))
    throw new Error(
      `the PACS tests need ${ORTHANC_BIN} and ${ORTHANC_DICOMWEB_PLUGIN}: apt-get install orthanc orthanc-dicomweb (.ci/run does)`,
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-orthanc-'));
  const headers: Record<string, string> = opts.auth
    ? { authorization: `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}` }
    : {};
  let child: ChildProcess | undefined;
  let port = 0;
  // The port may be taken between the probe and Orthanc's bind (Orthanc then exits): try three free ports, as the
  // Postgres harness. A timeout is final. Each attempt starts from an empty index: an Orthanc stopped while it was
  // creating its SQLite index leaves a file the next one refuses ("Incompatible version of the database").
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    fs.rmSync(path.join(dir, 'db'), { recursive: true, force: true });
    const config = path.join(dir, 'orthanc.json');
    fs.writeFileSync(config, JSON.stringify(orthancConfig(dir, port, opts), null, 2));
    child = spawn(ORTHANC_BIN, [config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await waitForSystem(child, `http://127.0.0.1:${port}`, headers, opts.startTimeoutMs ?? 30_000);
      break;
    } catch (e) {
      await kill(child);
      if (attempt >= 2 || e instanceof OrthancStartTimeout) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  const running = child;
  const url = `http://127.0.0.1:${port}`;

  // A crashed test run must not leave Orthanc behind.
  const onExit = () => {
    running.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stopped = false;
  return {
    port,
    dir,
    url,
    dicomWebUrl: `${url}/dicom-web`,
    async upload(bytes) {
      const res = await fetch(`${url}/instances`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/dicom' },
        body: bytes,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`Orthanc refused the instance: ${res.status} ${text.slice(0, 300)}`);
      return JSON.parse(text) as { ID: string; ParentStudy: string; Status: string };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await kill(running);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function orthancConfig(dir: string, port: number, opts: OrthancOptions): Record<string, unknown> {
  const storage = path.join(dir, 'db');
  return {
    Name: 'casam-test',
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: opts.auth !== undefined,
    RegisteredUsers: opts.auth ? { [opts.auth.user]: opts.auth.password } : {},
    StorageDirectory: storage,
    IndexDirectory: storage,
    // Tests need no compression, Lua or remote modalities; keep the process small and quiet.
    StorageCompression: false,
    HttpCompressionEnabled: false,
    ConcurrentJobs: 1,
    HttpThreadsCount: 8,
    Plugins: opts.dicomWeb ? [ORTHANC_DICOMWEB_PLUGIN] : [],
    DicomWeb: {
      Enable: opts.dicomWeb === true,
      Root: '/dicom-web/',
      EnableWado: false,
      StudiesMetadata: 'Full',
      SeriesMetadata: 'Full',
    },
  };
}

class OrthancStartTimeout extends Error {}

/** Polls `GET /system` until Orthanc answers 200; fails with Orthanc's stderr when it exits or times out. */
async function waitForSystem(
  child: ChildProcess,
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  });
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
  child.once('error', (e) => (exited = `could not start: ${e.message}`));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline)
      throw new OrthancStartTimeout(
        `Orthanc did not answer GET ${url}/system within ${timeoutMs} ms:\n${stderr}`,
      );
    if (exited) throw new Error(`Orthanc ${exited} before answering on ${url}:\n${stderr}`);
    try {
      const res = await fetch(`${url}/system`, { headers, signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
