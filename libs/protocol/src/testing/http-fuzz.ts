/**
 * Wire-level tools for the fuzz suites of both HTTP surfaces (the coordinator's REST API and the site agent's
 * `serve` API): a raw HTTP/1.1 client and fast-check arbitraries for hostile text, JSON and header values.
 *
 * The client writes bytes to a TCP socket itself because `fetch` and `http.request` refuse to send what a fuzzer
 * must send: header values with control characters, a Content-Length that does not match the body, a body with
 * both Content-Length and chunked framing, unpaired surrogates in a path. Test-only (a `testing` folder: the
 * offline packs leave it out).
 */
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';

/** How the request body is framed on the wire. */
export type BodyFraming =
  /** `Content-Length` = the body's real length. */
  | { kind: 'length' }
  /** `Transfer-Encoding: chunked`, the body cut into chunks of these sizes (the rest in one last chunk). */
  | { kind: 'chunked'; sizes: number[] }
  /** `Content-Length: <value>` whatever the body's length is (shorter, longer, not a number, negative). */
  | { kind: 'declared'; value: string }
  /** Both a `Content-Length` and chunked framing (a request-smuggling shape a server must refuse). */
  | { kind: 'both'; value: string }
  /** No framing header: the body bytes (if any) follow the head as if they were the next request. */
  | { kind: 'none' };

export interface RawRequest {
  method: string;
  /** The request target exactly as written on the request line (already percent-encoded where wanted). */
  target: string;
  /** Written as Latin-1 bytes, in this order, duplicates kept. `Host` and `Connection: close` are added. */
  headers: [string, string][];
  body?: Uint8Array;
  framing?: BodyFraming;
}

export type RawOutcome =
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: Buffer; raw: string }
  /** The server closed the connection (or reset it) before a complete answer arrived. */
  | { kind: 'closed'; received: number }
  /** Nothing complete within the time limit (e.g. the server waits for body bytes that never come). */
  | { kind: 'timeout'; received: number };

/** The request as it goes on the wire (Latin-1 head, then the framed body). */
export function encodeRawRequest(host: string, r: RawRequest): Buffer {
  const body = Buffer.from(r.body ?? new Uint8Array(0));
  const framing = r.framing ?? { kind: 'length' };
  const head: string[] = [`${r.method} ${r.target} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  for (const [k, v] of r.headers) head.push(`${k}: ${v}`);
  let payload: Buffer = body;
  switch (framing.kind) {
    case 'length':
      if (body.length > 0 || !['GET', 'HEAD'].includes(r.method)) head.push(`Content-Length: ${body.length}`);
      break;
    case 'declared':
      head.push(`Content-Length: ${framing.value}`);
      break;
    case 'both':
      head.push(`Content-Length: ${framing.value}`, 'Transfer-Encoding: chunked');
      payload = chunked(body, [body.length]);
      break;
    case 'chunked':
      head.push('Transfer-Encoding: chunked');
      payload = chunked(body, framing.sizes);
      break;
    case 'none':
      break;
  }
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
}

function chunked(body: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const s of sizes) {
    if (at >= body.length) break;
    const c = body.subarray(at, at + Math.max(1, s));
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    at += c.length;
  }
  if (at < body.length) {
    const c = body.subarray(at);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/**
 * Sends `r` on a fresh connection and reads the first answer. `halfClose` ends our side after sending (for a
 * declared length longer than the body: the server then sees the body cut short instead of waiting for it).
 */
export function rawHttp(
  url: string,
  r: RawRequest,
  opts: { timeoutMs?: number; halfClose?: boolean } = {},
): Promise<RawOutcome> {
  const { hostname, port } = new URL(url);
  const bytes = encodeRawRequest(`${hostname}:${port}`, r);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const socket = net.connect({ host: hostname, port: Number(port) });
    const finish = (o: RawOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const tryParse = (final: boolean): void => {
      const parsed = parseRawResponse(Buffer.concat(chunks), r.method, final);
      if (parsed) finish(parsed);
      else if (final) finish({ kind: 'closed', received });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', received }), opts.timeoutMs ?? 10_000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      tryParse(false);
    });
    // A server that answers early (413) and closes while we still write gives EPIPE/ECONNRESET here: what
    // arrived before still counts.
    socket.on('error', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('connect', () => {
      socket.write(bytes);
      if (opts.halfClose) socket.end();
    });
  });
}

/**
 * The first HTTP/1.1 response in `buf`, or null while incomplete. At the end of the stream (`final`) a body
 * without framing runs to the end.
 */
export function parseRawResponse(buf: Buffer, method: string, final: boolean): RawOutcome | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  const rest = buf.subarray(end + 4);
  const done = (body: Buffer): RawOutcome => ({ kind: 'answer', status, headers, body, raw: head });
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200))
    return done(Buffer.alloc(0));
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', at);
      if (nl < 0) return final ? done(Buffer.concat(parts)) : null;
      const size = parseInt(rest.subarray(at, nl).toString('latin1'), 16);
      if (!Number.isFinite(size)) return done(Buffer.concat(parts));
      if (size === 0) return done(Buffer.concat(parts));
      if (rest.length < nl + 2 + size + 2) return final ? done(Buffer.concat(parts)) : null;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length >= n) return done(rest.subarray(0, n));
    return final ? done(rest) : null;
  }
  return final ? done(rest) : null;
}

/** `%XX` for every UTF-8 byte of `s`; an unpaired surrogate becomes its 3-byte (WTF-8) form, which no decoder accepts. */
export function percentEncodeAll(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const hi = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
    const lo = hi ? s.charCodeAt(i + 1) : 0;
    const cp = hi && lo >= 0xdc00 && lo <= 0xdfff ? ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000 : c;
    if (cp > 0xffff) i++;
    const bytes =
      cp < 0x80
        ? [cp]
        : cp < 0x800
          ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
          : cp < 0x10000
            ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
            : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    for (const b of bytes) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Unreserved characters as they are, everything else as `%XX` of its UTF-8 (WTF-8) bytes. */
export function percentEncode(s: string): string {
  return [...s].map((ch) => (/^[A-Za-z0-9\-._~]$/.test(ch) ? ch : percentEncodeAll(ch))).join('');
}

/** Characters that break text handling somewhere: NUL, unpaired surrogates, controls, bidi overrides, BOM… */
export const NASTY_CHARS = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '\u0001',
  '\u001b[2J',
  '\n',
  '\r\n',
  '\t',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u202e',
  '\u2028',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '🫁',
  '肺',
  'é',
  'e\u0301',
  '%00',
  '%',
  '\\',
  '"',
  "'",
  '<script>',
  '${x}',
  '../',
] as const;

/** Keys that walk into prototypes when a server merges parsed JSON into objects. */
export const POLLUTION_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
] as const;

/** Short, long and huge text with nasty characters mixed into ordinary ones. */
export function hostileString(): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_CHARS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(piece, { maxLength: 6 }).map((p) => p.join('')) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'true', '0', '-1', '1e309', 'NaN') },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...NASTY_CHARS, 'a'), fc.constantFrom(300, 5_000, 70_000))
        .map(([c, n]) => c.repeat(Math.ceil(n / c.length))),
    },
  );
}

/** A JSON value whose objects may repeat keys and carry `__proto__`: kept as entries, written by {@link jsonText}. */
export type LooseJson =
  | null
  | boolean
  | number
  | string
  | LooseJson[]
  | { entries: [string, LooseJson][] }
  /** Written verbatim: numbers JSON.stringify cannot produce (`1e999`, `-0`, `1.0`). */
  | { raw: string };

export function jsonText(v: LooseJson): string {
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if ('raw' in v) return v.raw;
  return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`;
}

export const looseObject = (o: Record<string, LooseJson>): LooseJson => ({ entries: Object.entries(o) });

/** Odd numbers: huge, tiny, negative zero, beyond double range, not integers where integers are expected. */
export function hostileNumber(): fc.Arbitrary<LooseJson> {
  return fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom<LooseJson>(
      0,
      -1,
      1.5,
      2 ** 31,
      2 ** 53 + 1,
      Number.MAX_VALUE,
      { raw: '1e999' },
      { raw: '-1e999' },
      { raw: '-0' },
      { raw: '123456789012345678901234567890' },
      { raw: '1.0' },
    ),
  );
}

/** Any JSON value, nested up to `depth`, with hostile strings, keys and numbers. */
export function hostileJson(depth = 3): fc.Arbitrary<LooseJson> {
  const key = fc.oneof(
    { weight: 3, arbitrary: hostileString() },
    { weight: 2, arbitrary: fc.constantFrom(...POLLUTION_KEYS) },
  );
  const { value } = fc.letrec<{ value: LooseJson }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: depth },
      fc.constantFrom<LooseJson>(null, true, false),
      hostileNumber(),
      hostileString(),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.array(fc.tuple(key, tie('value')), { maxLength: 4 }).map((entries): LooseJson => ({ entries })),
    ),
  }));
  return value;
}

/** `[[[[…` or `{"a":{"a":…` nested `n` deep: stack depth in parsers and validators. */
export function deeplyNested(n: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
}

/** Header values a well-formed request may carry (visible ASCII, spaces, obs-text bytes), short to 4 KiB. */
export function headerValue(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({
      unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
      maxLength: 40,
    }),
    fc.constantFrom('', ' ', '*/*', 'null', 'a'.repeat(4096), '\u00ff\u00fe', 'utf-8', '"'),
  );
}

/** Header values no HTTP parser should accept (controls in the value, a header over 16 KiB). */
export function malformedHeaderValue(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('a\u0000b', 'a\u0001b', 'a\rb', 'a\u007fb', 'x'.repeat(20_000)),
    fc
      .string({ unit: 'binary-ascii', minLength: 1, maxLength: 20 })
      .filter((s) => /[\x00-\x08\x0a-\x1f\x7f]/.test(s)),
  );
}

/**
 * `value`, printed as `label` in fast-check's reports: a 25 kB body as bytes, or a whole OpenAPI schema, would
 * drown the counterexample.
 */
export function labelled<T extends object>(value: T, label: string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => label, enumerable: false });
  return value;
}

/** Bytes labelled with their length and a readable start (`<25000 bytes: "{\"a\":{\"a\":…">`). */
export function labelledBytes(b: Uint8Array): Buffer {
  const buf = Buffer.from(b);
  const head = JSON.stringify(buf.subarray(0, 80).toString('latin1'));
  return labelled(buf, `<${buf.length} bytes: ${head}${buf.length > 80 ? '…' : ''}>`);
}

/** A fixed seed unless `CASAM_FUZZ_SEED` asks for another (to explore, or to replay a CI failure). */
export function fuzzSeed(fallback: number): number {
  const s = Number(process.env.CASAM_FUZZ_SEED);
  return Number.isInteger(s) ? s : fallback;
}

/** The run count, times `CASAM_FUZZ_SCALE` (e.g. 20 for a long local session), at least 1. */
export function fuzzRuns(base: number): number {
  const k = Number(process.env.CASAM_FUZZ_SCALE);
  return Math.max(1, Math.round(base * (Number.isFinite(k) && k > 0 ? k : 1)));
}

/**
 * Runs an async property with a fixed seed, a run count and a wall-clock cap (runs after the cap are skipped,
 * not failed: the suite stays bounded on a loaded machine). On failure throws fast-check's report: the seed,
 * the replay path and the (shrunk) counterexample. Returns how many runs were made.
 */
export async function checkBounded<Ts>(
  property: fc.IAsyncProperty<Ts>,
  o: { seed: number; numRuns: number; timeLimitMs: number; perRunTimeoutMs?: number },
): Promise<{ numRuns: number; interrupted: boolean }> {
  const details = await fc.check(property, {
    seed: o.seed,
    numRuns: o.numRuns,
    includeErrorInReport: true,
    plugins: [
      fc.interruptAfterTimeLimit(o.timeLimitMs),
      ...(o.perRunTimeoutMs ? [fc.timeout(o.perRunTimeoutMs)] : []),
    ],
  });
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'property failed');
  return { numRuns: details.numRuns, interrupted: details.interrupted };
}

/** Memory of this process: the server under test runs in it. */
export interface Memory {
  rss: number;
  /** JS heap in use after a full collection. */
  heap: number;
  /** ArrayBuffers (Buffers, the wasm heaps of PGlite and TF.js, which only grow): part of RSS. */
  arrayBuffers: number;
}

/** Memory after a full collection (the V8 flag is set at run time: vitest's workers lack --expose-gc). */
export function memoryAfterGc(): Memory {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  return { rss, heap: heapUsed, arrayBuffers };
}

export function memoryGrowth(from: Memory, to: Memory): Memory {
  return {
    rss: to.rss - from.rss,
    heap: to.heap - from.heap,
    arrayBuffers: to.arrayBuffers - from.arrayBuffers,
  };
}

/** `RSS +98.7 MiB (ArrayBuffers +90.0), heap after GC -4.5 MiB` */
export function formatGrowth(g: Memory): string {
  const mib = (n: number) => `${n >= 0 ? '+' : ''}${(n / 2 ** 20).toFixed(1)}`;
  return `RSS ${mib(g.rss)} MiB (ArrayBuffers ${mib(g.arrayBuffers)}), heap after GC ${mib(g.heap)} MiB`;
}

/**
 * Memory over a fuzz run, for a bound on growth. The baseline is taken after `warmup` requests: the first ones
 * load code and fill caches once (the coordinator's heap grew about 90 MiB over its first 50 fuzzed requests,
 * then stayed flat for 1,000 more). A full collection every `every` requests keeps RSS meaningful: left to V8,
 * garbage Buffers from a burst of large bodies pile up before a collection and raise the allocator's high-water
 * mark, which RSS keeps (+280 MiB over 1,500 requests without, +30 MiB with, heap and ArrayBuffers flat).
 */
export class MemoryWatch {
  requests = 0;
  private baseline: Memory | null = null;

  constructor(
    readonly warmup: number,
    private readonly every = 100,
  ) {}

  /** Counts one request. */
  tick(): void {
    this.requests++;
    if (this.requests === this.warmup) this.baseline = memoryAfterGc();
    else if (this.requests % this.every === 0) memoryAfterGc();
  }

  /** Takes the baseline now if the warm-up was never reached (a time cap on a very slow machine). */
  ensureBaseline(): void {
    this.baseline ??= memoryAfterGc();
  }

  /** Growth since the baseline (null if none was taken). */
  growth(): Memory | null {
    return this.baseline && memoryGrowth(this.baseline, memoryAfterGc());
  }
}
