import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_IMAGE_PIXELS, writeFileAtomic } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { pacsConfigProblems } from '../pacs/pacs-allowlist';

/** The agent's configuration file (`<home>/agent.json`), written by `init`, edited by hospital IT. */
export interface AgentConfig {
  version: 1;
  /** Origin of the coordinator, e.g. https://coordinator.example.org. */
  coordinatorUrl: string;
  /** The site's name in the federation (unique; shown to admins). */
  siteName: string;
  model: {
    /** SAM preset of the frozen base model. */
    preset: string;
    /** Weights file (.safetensors or .pth); relative paths are taken from the agent home. */
    weights: string;
  };
  /** TF.js backend: auto (tfjs-node-gpu → tfjs-node → wasm → cpu) or one of them. */
  backend: 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
  /**
   * The local segmentation API (`serve`): loopback by default, never exposed unless IT says so. `maxImagePixels`
   * (optional) is the largest width × height it decodes (default 4096²).
   */
  serve: { host: string; port: number; maxRequestBytes: number; maxImagePixels?: number };
  /** The hospital PACS the agent may use over DICOMweb (their roots); none: no PACS. See pacs/pacs-allowlist.ts. */
  pacs?: { allowed: string[] };
}

/** What the agent has learned and must keep across restarts (`<home>/state.json`). */
/** One coordinator bundle-signing key as the site trusts it. */
export interface CoordinatorKeyRecord {
  kid: string;
  x: string;
  /** The trusted key that endorsed this one (absent for keys pinned at enrollment). */
  endorsedBy?: string;
  /** When this site stopped accepting new bundles signed by it. */
  retiredAt?: string;
}

export interface AgentState {
  version: 1;
  siteId?: string;
  /** Enrollment as last seen: the coordinator decides, this only remembers. */
  enrollment?: {
    status: 'pending' | 'approved' | 'rejected' | 'revoked';
    keyFingerprint: string;
    enrolledAt: string;
    checkedAt?: string;
  };
  /** Last time a bundle check with the coordinator succeeded (pull or daemon). */
  lastSyncAt?: string;
  /**
   * Bundle-signing keys of the coordinator: pinned at enrollment, plus successors endorsed by a trusted key
   * (`endorsedBy`). A key is retired here (`retiredAt`) once a bundle signed by one of its successors has been
   * installed: new bundles signed by it are refused from then on.
   */
  coordinatorKeys?: CoordinatorKeyRecord[];
}

const DEFAULT_HOME = join('.casam', 'site-agent');

/** The home's mode: it holds the site key, patient image paths and slices, so only the agent's user may enter. */
export const HOME_MODE = 0o700;

/**
 * The folder holding everything the agent keeps: config, key, state, egress log, data index, caches, bundles.
 * `--home`, else `CASAM_AGENT_HOME`, else `./.casam/site-agent`; an empty or blank value counts as unset (an
 * `Environment=CASAM_AGENT_HOME=` line must not turn the working directory into the home).
 */
export class AgentHome {
  readonly dir: string;
  constructor(dir?: string) {
    const given = [dir, process.env['CASAM_AGENT_HOME']].find((d) => d !== undefined && d.trim() !== '');
    this.dir = resolve(given ?? DEFAULT_HOME);
  }

  /**
   * Creates the home, and missing parents, mode 0700 whatever the umask (mkdir applies the umask, so the mode is
   * set again). An existing home is left as it is: preflight fails when it is open to others.
   */
  ensureDir(): void {
    if (existsSync(this.dir)) return;
    mkdirSync(this.dir, { recursive: true, mode: HOME_MODE });
    chmodSync(this.dir, HOME_MODE);
  }
  get configFile(): string {
    return join(this.dir, 'agent.json');
  }
  get stateFile(): string {
    return join(this.dir, 'state.json');
  }
  get keyFile(): string {
    return join(this.dir, 'keys', 'site-key.jwk');
  }
  /** A key generated for a rotation that has not finished yet (kept so an interrupted rotation can complete). */
  get nextKeyFile(): string {
    return join(this.dir, 'keys', 'site-key.next.jwk');
  }
  /** The key in use before the last rotation (the coordinator accepts it until its grace period ends). */
  get previousKeyFile(): string {
    return join(this.dir, 'keys', 'site-key.previous.jwk');
  }
  get egressLogFile(): string {
    return join(this.dir, 'egress.log');
  }
  get bundlesDir(): string {
    return join(this.dir, 'bundles');
  }
  /** ONNX exports of the base model and the installed Alignment Layers, made on first use (rebuildable). */
  get onnxCacheDir(): string {
    return join(this.dir, 'onnx-cache');
  }
  taskDir(task: string): string {
    return join(this.dir, 'tasks', task);
  }

  exists(): boolean {
    return existsSync(this.configFile);
  }

  readConfig(): AgentConfig {
    if (!existsSync(this.configFile))
      throw new UserError(
        `no agent configuration at ${this.configFile}; run: site-agent init --coordinator <url> --site-name <name>`,
        EXIT.usage,
      );
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.configFile, 'utf8'));
    } catch (e) {
      throw new UserError(`${this.configFile} is not valid JSON: ${(e as Error).message}`, EXIT.usage);
    }
    const problems = configProblems(raw);
    if (problems.length)
      throw new UserError(`${this.configFile} is invalid:\n  ${problems.join('\n  ')}`, EXIT.usage);
    return raw as AgentConfig;
  }

  writeConfig(c: AgentConfig): void {
    const problems = configProblems(c);
    if (problems.length)
      throw new UserError(`invalid configuration:\n  ${problems.join('\n  ')}`, EXIT.usage);
    this.ensureDir();
    writeFileAtomic(this.configFile, JSON.stringify(c, null, 2) + '\n', 0o600);
  }

  readState(): AgentState {
    if (!existsSync(this.stateFile)) return { version: 1 };
    try {
      return JSON.parse(readFileSync(this.stateFile, 'utf8')) as AgentState;
    } catch (e) {
      throw new UserError(
        `${this.stateFile} is corrupt (${(e as Error).message}); restore it from backup or re-enroll`,
        EXIT.input,
      );
    }
  }

  /** Read-modify-write of the state file, atomically replaced. */
  updateState(edit: (s: AgentState) => void): AgentState {
    const s = this.readState();
    edit(s);
    this.ensureDir();
    writeFileAtomic(this.stateFile, JSON.stringify(s, null, 2) + '\n', 0o600);
    return s;
  }

  /** The weights path of the config, resolved against the home. */
  weightsPath(c: AgentConfig): string {
    return resolve(this.dir, c.model.weights);
  }
}

export function configProblems(raw: unknown): string[] {
  const p: string[] = [];
  const c = raw as Partial<AgentConfig> | null;
  if (!c || typeof c !== 'object') return ['must be a JSON object'];
  const known = ['version', 'coordinatorUrl', 'siteName', 'model', 'backend', 'serve', 'pacs'];
  for (const k of Object.keys(c)) if (!known.includes(k)) p.push(`unknown field "${k}"`);
  if (c.version !== 1) p.push('version must be 1');
  try {
    const u = new URL(String(c.coordinatorUrl));
    if (!['http:', 'https:'].includes(u.protocol) || u.pathname !== '/' || u.search)
      p.push('coordinatorUrl must be an origin like https://coordinator.example.org');
  } catch {
    p.push('coordinatorUrl must be a URL like https://coordinator.example.org');
  }
  if (typeof c.siteName !== 'string' || !/^[^\u0000-\u001f\u007f]{1,200}$/.test(c.siteName))
    p.push('siteName must be 1..200 printable characters');
  if (!c.model || typeof c.model.preset !== 'string' || typeof c.model.weights !== 'string')
    p.push('model must be {preset, weights}');
  if (!['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'].includes(String(c.backend)))
    p.push('backend must be auto, tfjs-node-gpu, tfjs-node, wasm or cpu');
  const s = c.serve;
  if (!s || typeof s.host !== 'string' || !Number.isInteger(s.port) || s.port < 0 || s.port > 65535)
    p.push('serve must be {host, port (0..65535), maxRequestBytes}');
  else if (
    !Number.isInteger(s.maxRequestBytes) ||
    s.maxRequestBytes < 1024 ||
    s.maxRequestBytes > 512 * 1024 ** 2
  )
    p.push('serve.maxRequestBytes must be 1 KiB..512 MiB');
  if (
    s?.maxImagePixels !== undefined &&
    (!Number.isInteger(s.maxImagePixels) || s.maxImagePixels < 1 || s.maxImagePixels > MAX_IMAGE_PIXELS)
  )
    p.push(`serve.maxImagePixels must be an integer 1..${MAX_IMAGE_PIXELS} (width × height)`);
  p.push(...pacsConfigProblems(c.pacs));
  return p;
}
