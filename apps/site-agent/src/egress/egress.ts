import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import type { z } from 'zod';
import { CHUNK_CONTENT_TYPE, validateAdapterFile, wirePathPattern, wireProblems } from '@casam/protocol';
import { EgressLog } from './egress-log';
import { egressMessages, type HttpMessageType, type SocketMessageType, socketMessageSpec } from './messages';

/** Something the agent was about to send that is not on the allowlist: it was stopped and logged, never sent. */
export class EgressRefusedError extends Error {
  override name = 'EgressRefusedError';
  constructor(
    readonly type: string,
    readonly problems: string[],
  ) {
    super(
      `refused to send ${type}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`,
    );
  }
}

export interface HttpRequestOptions {
  path: string;
  /** JSON body (object) or raw bytes (adapter chunks only). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

interface RegisteredUpload {
  bytes: Uint8Array;
  chunkSize: number;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** The headers a request may carry; nothing else leaves. */
const ALLOWED_HEADERS = [
  'authorization',
  'x-casam-protocol',
  'x-casam-chunk-sha256',
  'range',
  'if-none-match',
  'x-correlation-id',
];

/**
 * The one way out of the site agent. Every outbound HTTP request and socket event is checked against the
 * allowlist in messages.ts, made of libs/protocol's wire messages (method, path and its typed parameters,
 * query, exact body schema with its limits, the claims inside every JWS) and appended to
 * the egress log, then sent to the one configured coordinator. Adapter chunks must be byte-for-byte slices of an
 * adapter file that passed the adapter validator and was registered for that upload id.
 */
export class EgressGateway {
  private readonly uploads = new Map<string, RegisteredUpload>();

  constructor(
    /** Origin of the coordinator, e.g. `https://coordinator.example.org`; nothing else is ever contacted. */
    readonly coordinatorUrl: string,
    readonly log: EgressLog,
    private readonly fetchImpl: typeof fetch = fetch,
    /** The node:http agent for the socket.io connection when it goes through a proxy (see proxy.ts). */
    readonly agent?: Agent,
  ) {
    const u = new URL(coordinatorUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new Error(`coordinator URL must be http(s), got ${coordinatorUrl}`);
    if (u.pathname !== '/' || u.search || u.hash || u.username || u.password)
      throw new Error(`coordinator URL must be an origin like https://host:port, got ${coordinatorUrl}`);
  }

  /**
   * Allows the chunks of one adapter upload: `bytes` must be a valid adapter file (weights + τ + metrics, in the
   * exact schema for `channels`).
   */
  registerUpload(uploadId: string, bytes: Uint8Array, chunkSize: number, channels: number): void {
    validateAdapterFile(bytes, { channels });
    this.uploads.set(uploadId, { bytes, chunkSize });
  }

  /** Sends one allowlisted HTTP message; throws EgressRefusedError (logged, nothing sent) when it is not. */
  async request(type: HttpMessageType, opts: HttpRequestOptions): Promise<Response> {
    const { method, bytes, contentType } = this.check(type, opts);
    const target = opts.path;
    const base = {
      at: new Date(),
      type,
      method,
      target,
      bytes: bytes?.byteLength ?? 0,
      sha256: sha256(bytes ?? ''),
    };
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(opts.path, this.coordinatorUrl), {
        method,
        headers: { ...(contentType ? { 'content-type': contentType } : {}), ...opts.headers },
        body: bytes,
        signal: opts.signal,
      });
    } catch (e) {
      this.log.append({ ...base, outcome: `failed: ${(e as Error).message}`.slice(0, 200) });
      throw e;
    }
    this.log.append({ ...base, outcome: String(res.status) });
    return res;
  }

  /** Checks and logs one socket event; returns the payload to emit. */
  socketEvent(type: SocketMessageType, payload: unknown): { event: string; payload: unknown } {
    const spec = socketMessageSpec(type);
    const problems = wireProblems(spec.body, payload, 'payload');
    const json = JSON.stringify(payload) ?? '';
    if (problems.length) this.refuse(type, 'EMIT', spec.event, json, problems);
    this.log.append({
      at: new Date(),
      type,
      method: 'EMIT',
      target: spec.event,
      bytes: Buffer.byteLength(json),
      sha256: sha256(json),
      outcome: 'socket',
    });
    return { event: spec.event, payload };
  }

  private check(
    type: HttpMessageType,
    opts: HttpRequestOptions,
  ): { method: string; bytes?: Uint8Array; contentType?: string } {
    const problems: string[] = [];
    const candidates = egressMessages(type);
    const [pathname, search] = splitQuery(opts.path);
    const matches = candidates.filter((m) => wirePathPattern(m).test(pathname));
    const spec = matches[0] ?? candidates[0];
    if (matches.length === 0) problems.push(`path ${opts.path.slice(0, 120)} is not allowed for ${type}`);
    else if (search !== null) {
      const queryProblems = spec.query ? queryStringProblems(search, spec.query) : ['it takes no query'];
      if (queryProblems.length)
        problems.push(
          `path ${opts.path.slice(0, 120)} is not allowed for ${type}: ${queryProblems.join('; ')}`,
        );
    }
    for (const h of Object.keys(opts.headers ?? {}))
      if (!ALLOWED_HEADERS.includes(h.toLowerCase())) problems.push(`header ${h} is not allowed`);
    if (spec.body === 'none') {
      if (opts.body !== undefined) problems.push('a read carries no body');
      if (problems.length) this.refuse(type, spec.method, opts.path, '', problems);
      return { method: spec.method };
    }
    if (spec.body === 'bytes') {
      const bytes = opts.body;
      if (!(bytes instanceof Uint8Array)) problems.push('an adapter chunk must be bytes');
      else {
        const m = /\/uploads\/([^/]+)\/chunks\/(\d+)$/.exec(pathname);
        const up = m ? this.uploads.get(m[1]) : undefined;
        if (!up) problems.push('no validated adapter file is registered for this upload');
        else {
          const start = Number(m![2]) * up.chunkSize;
          const expected = up.bytes.subarray(start, Math.min(start + up.chunkSize, up.bytes.byteLength));
          if (expected.byteLength === 0 || !Buffer.from(bytes).equals(Buffer.from(expected)))
            problems.push('chunk bytes are not the registered adapter file at this position');
          const claimed = opts.headers?.['x-casam-chunk-sha256'];
          if (claimed !== undefined && claimed !== sha256(bytes))
            problems.push('x-casam-chunk-sha256 does not match the bytes');
        }
      }
      if (problems.length)
        this.refuse(type, spec.method, opts.path, bytes instanceof Uint8Array ? bytes : '', problems);
      return { method: spec.method, bytes: bytes as Uint8Array, contentType: CHUNK_CONTENT_TYPE };
    }
    problems.push(...wireProblems(spec.body, opts.body));
    if (spec.jws && opts.body && typeof opts.body === 'object')
      for (const [field, claims] of Object.entries(spec.jws)) {
        const v = (opts.body as Record<string, unknown>)[field];
        if (typeof v === 'string') problems.push(...jwsProblems(v, claims, field));
      }
    const json = JSON.stringify(opts.body) ?? '';
    if (problems.length) this.refuse(type, spec.method, opts.path, json, problems);
    return { method: spec.method, bytes: Buffer.from(json), contentType: 'application/json' };
  }

  private refuse(
    type: string,
    method: string,
    target: string,
    body: Uint8Array | string,
    problems: string[],
  ): never {
    this.log.append({
      at: new Date(),
      type: `refused:${type}`,
      method,
      target: target.slice(0, 200),
      bytes: typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
      sha256: sha256(body),
      outcome: `refused: ${problems[0]}`.slice(0, 200),
    });
    throw new EgressRefusedError(type, problems);
  }
}

/** `/a/b?x=1` → [`/a/b`, `x=1`]; no `?` → [path, null]. */
function splitQuery(path: string): [string, string | null] {
  const q = path.indexOf('?');
  return q < 0 ? [path, null] : [path.slice(0, q), path.slice(q + 1)];
}

/** Problems of a query string against a message's query schema (a name given twice is one too). */
function queryStringProblems(search: string, schema: z.ZodType): string[] {
  const params = new URLSearchParams(search);
  const names = [...params.keys()];
  const twice = names.filter((k, i) => names.indexOf(k) !== i);
  if (twice.length) return [`${twice[0].slice(0, 40)} is given more than once`];
  return wireProblems(schema, Object.fromEntries(params), 'query');
}

/** A compact JWS whose header is `{alg: EdDSA[, kid]}` and whose payload matches the message's claim schema. */
function jwsProblems(jws: string, claims: z.ZodType, field: string): string[] {
  const parts = jws.split('.');
  if (parts.length !== 3) return [`${field}: not a compact JWS`];
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    const out: string[] = [];
    const hKeys = Object.keys(header).sort().join(',');
    if (
      header['alg'] !== 'EdDSA' ||
      (hKeys !== 'alg' && hKeys !== 'alg,kid') ||
      (header['kid'] !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(String(header['kid'])))
    )
      out.push(`${field}: JWS header must be {alg: EdDSA[, kid: <key fingerprint>]}`);
    out.push(...wireProblems(claims, payload, 'payload').map((p) => `${field} payload: ${p}`));
    return out;
  } catch {
    return [`${field}: JWS header or payload is not base64url JSON`];
  }
}
