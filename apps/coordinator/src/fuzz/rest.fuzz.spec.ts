import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SHA256_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION } from '@casam/protocol';
import {
  checkBounded,
  formatGrowth,
  MemoryWatch,
  deeplyNested,
  fuzzRuns,
  fuzzSeed,
  headerValue,
  hostileJson,
  hostileNumber,
  hostileString,
  jsonText,
  labelled,
  labelledBytes,
  type LooseJson,
  malformedHeaderValue,
  percentEncode,
  POLLUTION_KEYS,
  type RawOutcome,
  type RawRequest,
  rawHttp,
} from '@casam/protocol/testing';
import {
  type Api,
  apiFor,
  createTestSite,
  FINGERPRINT_A,
  makeAdapterFile,
  putChunk,
  sha256Hex,
  proposeTask,
  signUpload,
  type TestSite,
} from '../../testing/upload.testing';
import { startTestApp, type TestApp } from '../../testing/test-app';

/**
 * Bounded fuzzing of the coordinator's whole REST surface, as a client on the network can reach it: every
 * operation of the app's own OpenAPI document (so a new route is fuzzed without touching this file) with
 * hostile bodies, headers, path parameters and query strings, unauthenticated and with valid admin, viewer and
 * site tokens; then malformed HTTP framing. Every answer must be 2xx (or 304) or a 4xx in the documented error
 * shape (`{error: {code, message, correlationId}}`, ApiErrorBody), never a 5xx; afterwards the process still
 * answers /healthz and /readyz and its memory grew by less than a stated bound.
 *
 * Fixed seed and run counts, with a wall-clock cap per property so a loaded 2-core machine stays under the
 * budget: `CASAM_FUZZ_SEED=<n>` replays or explores another seed, `CASAM_FUZZ_SCALE=<k>` runs k times more.
 */

const SEED = fuzzSeed(0x5eed_16);
/** Requests over the documented routes, and with malformed framing (each at most TIME_LIMIT_MS of fuzzing). */
const ROUTE_RUNS = fuzzRuns(400);
const FRAMING_RUNS = fuzzRuns(120);
const TIME_LIMIT_MS = Number(process.env.CASAM_FUZZ_TIME_LIMIT_MS) || 20_000;
/**
 * Growth allowed from after a warm-up of 50 requests to the end (see MemoryWatch): RSS, and the JS heap after a
 * full collection. Seen on the development machine: about +30 MiB RSS and a flat heap over 1,000 requests.
 */
const RSS_GROWTH_BOUND = 128 * 1024 * 1024;
const HEAP_GROWTH_BOUND = 32 * 1024 * 1024;

interface Operation {
  method: string;
  path: string;
  audience: string[];
  /** The JSON body's schema (resolved), when the operation takes one. */
  body?: Schema;
}

interface Schema {
  type?: string;
  format?: string;
  pattern?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  $ref?: string;
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      { 'x-casam-audience'?: string[]; requestBody?: { content: Record<string, { schema: Schema }> } }
    >
  >;
  components: { schemas: Record<string, Schema> };
}

/** `{id}`-style parameter names of a path template. */
const pathParams = (p: string): string[] => [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);

/** What the answer must be: 2xx/304, or a 4xx in the documented shape with the correlation id of the answer. */
function answerProblem(o: RawOutcome, method: string): string | null {
  if (o.kind !== 'answer') return `no answer (${o.kind} after ${o.received} bytes)`;
  const { status, headers, body } = o;
  if (httpLayerRefusal(o)) return null;
  if ((status >= 200 && status < 300) || status === 304) return null;
  if (status < 400 || status >= 500) return `status ${status}: ${body.toString('utf8').slice(0, 300)}`;
  if (method === 'HEAD') return null;
  if (!/^application\/json/.test(headers['content-type'] ?? ''))
    return `${status} with content-type ${headers['content-type']}: ${body.toString('latin1').slice(0, 200)}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return `${status} with a body that is not JSON: ${body.toString('latin1').slice(0, 200)}`;
  }
  const e = (parsed as { error?: Record<string, unknown> }).error;
  if (
    !e ||
    typeof e.code !== 'string' ||
    !/^[a-z][a-z0-9_]*$/.test(e.code) ||
    typeof e.message !== 'string' ||
    typeof e.correlationId !== 'string' ||
    e.correlationId !== headers['x-correlation-id']
  )
    return `${status} not in the error shape: ${JSON.stringify(parsed).slice(0, 300)}`;
  return null;
}

/**
 * A refusal by Node's HTTP server itself, before any of the app's code ran (so without the correlation id the
 * app's first middleware sets on every answer): a request line or header the parser refuses (400), headers over
 * its 16 KiB limit (431), an `Expect` other than `100-continue` (417). A bare status that closes the connection.
 */
function httpLayerRefusal(o: Extract<RawOutcome, { kind: 'answer' }>): boolean {
  return (
    o.headers['x-correlation-id'] === undefined && [400, 417, 431].includes(o.status) && o.body.length === 0
  );
}

describe('REST API fuzz (real app over HTTP, embedded PGlite)', () => {
  let t: TestApp;
  let api: Api;
  let ops: Operation[];
  let tokens: Record<'admin' | 'viewer' | 'site', string>;
  /** Real ids and values for path parameters, so fuzzed requests also reach existing rows. */
  let known: string[];
  let etags: string[];
  const memory = new MemoryWatch(50);
  const byStatus = new Map<number, number>();

  beforeAll(async () => {
    // Auth rate limits high: the fuzzer should reach the login and token code, not only the 429.
    t = await startTestApp('pglite', {
      env: { COORDINATOR_AUTH_RATE_PER_MINUTE: '1000000', COORDINATOR_AUTH_RATE_BURST: '1000000' },
    });
    api = apiFor(() => t.url);
    const admin = await t.adminToken('admin');
    const viewer = await t.adminToken('viewer');
    // Site A holds the site token; site B is only a target (a fuzzed revoke of B leaves A's token working).
    const siteA: TestSite = await createTestSite(t, 'fuzz-a');
    const siteB: TestSite = await createTestSite(t, 'fuzz-b');
    tokens = { admin: admin.token, viewer: viewer.token, site: siteA.token };

    // One approved task with an approved adapter (so a bundle exists) and one open upload session.
    const proposed = await proposeTask(api, siteA.token, {
      name: 'fuzz-liver',
      modality: 'CT',
      targetStructures: ['liver'],
    });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    const taskId = proposed.body.id as string;
    expect((await api('POST', `/api/v1/tasks/${taskId}/approve`, {}, { token: admin.token })).status).toBe(
      200,
    );
    const file = makeAdapterFile({ taskId });
    const chunkSize = 256 * 1024;
    const start = async () => {
      const r = await api(
        'POST',
        '/api/v1/uploads',
        { taskId, totalSize: file.length, sha256: sha256Hex(file), chunkSize },
        { token: siteA.token },
      );
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.uploadId as string;
    };
    const uploadId = await start();
    for (let i = 0; i * chunkSize < file.length; i++)
      expect((await putChunk(api, siteA.token, uploadId, file, chunkSize, i)).status).toBe(201);
    const signature = await signUpload(siteA, {
      uploadId,
      taskId,
      sha256: sha256Hex(file),
      size: file.length,
    });
    const done = await api(
      'POST',
      `/api/v1/uploads/${uploadId}/complete`,
      { signature },
      { token: siteA.token },
    );
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const adapterId = done.body.adapter.id as string;
    expect(
      (await api('POST', `/api/v1/adapters/${adapterId}/approve`, {}, { token: admin.token })).status,
    ).toBe(200);
    const openUploadId = await start();
    const enrollment = await api(
      'POST',
      '/api/v1/enrollment-tokens',
      { label: 'fuzz' },
      { token: admin.token },
    );
    let bundleVersion = '1';
    for (let i = 0; i < 100; i++) {
      const latest = await api('GET', '/api/v1/bundles/latest', undefined, { token: admin.token });
      if (latest.status === 200) {
        bundleVersion = String(latest.body.version);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    known = [
      siteB.siteId,
      siteB.keyId,
      siteA.siteId,
      viewer.adminId,
      taskId,
      adapterId,
      uploadId,
      openUploadId,
      enrollment.body.id as string,
      bundleVersion,
      '0',
    ];
    etags = [`"${sha256Hex(file)}"`, '*', 'W/"x"'];

    const docRes = await api('GET', '/api/openapi.json');
    expect(docRes.status).toBe(200);
    const doc = docRes.body as OpenApiDoc;
    schemas = doc.components.schemas;
    ops = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.entries(item).map(([method, op]) => ({
        method: method.toUpperCase(),
        path: p,
        audience: op['x-casam-audience'] ?? [],
        body: resolve(op.requestBody?.content['application/json']?.schema),
      })),
    );
    // The document is the route list: it must not be trivially small (it would silently fuzz nothing).
    expect(ops.length).toBeGreaterThan(30);
    queryKeys = [
      ...new Set(
        Object.entries(doc.components.schemas)
          .filter(([name]) => /Query$/.test(name))
          .flatMap(([, s]) => Object.keys(s.properties ?? {})),
      ),
    ];
  });

  afterAll(async () => {
    await t?.close();
  });

  let queryKeys: string[] = [];
  let schemas: Record<string, Schema> = {};
  const resolve = (s: Schema | undefined): Schema | undefined =>
    s?.$ref ? schemas[s.$ref.split('/').pop()!] : s;

  /** A plausible value for a schema (what a client would send), used where the fuzzer keeps a field valid. */
  function plausible(s: Schema | undefined): fc.Arbitrary<LooseJson> {
    const schema = resolve(s);
    if (!schema) return hostileJson(1);
    if (schema.enum) return fc.constantFrom(...schema.enum);
    if (schema.format === 'uuid') return fc.oneof(fc.constantFrom(...known), fc.uuid());
    if (schema.pattern === '^[0-9a-f]{64}$') return fc.constant(sha256Hex(Buffer.from('x')));
    if (schema.pattern?.startsWith('^sha256:')) return fc.constant(FINGERPRINT_A);
    switch (schema.type) {
      case 'integer':
        return fc.integer({
          min: schema.minimum ?? -10,
          max: Math.min(schema.maximum ?? 1_000_000, 1_000_000),
        });
      case 'number':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 3 });
      case 'object':
        if (schema.properties) return objectFor(schema);
        // publicJwk: an Ed25519 public key shape, sometimes with a private part or the wrong curve.
        return fc
          .record({
            kty: fc.constantFrom('OKP', 'EC', 'RSA'),
            crv: fc.constantFrom('Ed25519', 'X25519', 'P-256'),
            x: fc.oneof(fc.base64String({ minLength: 4, maxLength: 60 }), hostileString()),
            d: fc.option(fc.constant('AAAA'), { nil: undefined }),
          })
          .map((r): LooseJson => ({
            entries: Object.entries(r).filter(([, v]) => v !== undefined) as [string, LooseJson][],
          }));
      default:
        return fc.string({
          minLength: schema.minLength ?? 0,
          maxLength: Math.min(schema.maxLength ?? 40, 40),
        });
    }
  }

  /** An object for a body schema: each field plausible or hostile, fields dropped, extra and pollution keys added. */
  function objectFor(schema: Schema): fc.Arbitrary<LooseJson> {
    const fields = Object.entries(schema.properties ?? {}).map(([k, s]) =>
      fc.tuple(
        fc.constant(k),
        fc.oneof(
          { weight: 4, arbitrary: plausible(s) },
          { weight: 2, arbitrary: hostileString() },
          { weight: 1, arbitrary: hostileNumber() },
          { weight: 1, arbitrary: hostileJson(2) },
        ),
        fc.boolean(), // dropped when false (one in two: required fields go missing too)
      ),
    );
    const extra = fc.array(
      fc.tuple(fc.oneof(fc.constantFrom(...POLLUTION_KEYS), hostileString()), hostileJson(2)),
      { maxLength: 2 },
    );
    return fc.tuple(fc.tuple(...fields), extra, fc.boolean()).map(([fs, more, keepAll]): LooseJson => ({
      entries: [
        ...fs.filter(([, , keep]) => keep || keepAll).map(([k, v]): [string, LooseJson] => [k, v]),
        ...more,
      ],
    }));
  }

  /** Body bytes (and how they are labelled) for an operation. */
  function bodyFor(op: Operation) {
    const json = (v: LooseJson) => Buffer.from(jsonText(v), 'utf8');
    const variants: fc.Arbitrary<Buffer | undefined>[] = [
      fc.constant(undefined),
      hostileJson().map(json),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.constantFrom(
        Buffer.from('{"a":'),
        Buffer.from('{"email":"a@b.example","password":"x"'),
        Buffer.from('\ufeff{}'),
        Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), // {"<invalid UTF-8>":1}
        Buffer.from(deeplyNested(20_000, 'array')),
        Buffer.from(deeplyNested(5_000, 'object')),
        Buffer.from(`{"a":"${'x'.repeat(200_000)}"}`), // over the 100 kB JSON limit
        Buffer.from('{"__proto__":{"admin":true},"constructor":{"prototype":{"polluted":1}}}'),
        Buffer.from('[]'),
        Buffer.from('null'),
        Buffer.from('"string"'),
        Buffer.from('1e999'),
      ),
    ];
    if (op.body) variants.push(objectFor(op.body).map(json), objectFor(op.body).map(json));
    return fc.oneof(...variants).map((b) => (b === undefined ? b : labelledBytes(b)));
  }

  const CONTENT_TYPES = [
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json; charset=bogus',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/*',
    '',
  ];

  const EXTRA_HEADERS = [
    'x-correlation-id',
    'x-request-id',
    PROTOCOL_HEADER,
    'if-none-match',
    'range',
    'accept',
    'accept-encoding',
    'x-forwarded-for',
    'origin',
    'cookie',
    'expect',
    CHUNK_SHA256_HEADER,
    'transfer-encoding',
  ];

  /**
   * Authorization values: none, a valid token the operation accepts (its OpenAPI audience, so requests get past
   * the guard), any valid token, and garbage.
   */
  function authorization(op: Operation): fc.Arbitrary<string | undefined> {
    const accepted = (['admin', 'viewer', 'site'] as const).filter(
      (k) => op.audience.includes(k) || (k === 'admin' && op.audience.includes('viewer')),
    );
    const valid = accepted.length
      ? [{ weight: 4, arbitrary: fc.constantFrom(...accepted).map((k) => `Bearer ${tokens[k]}`) }]
      : [];
    return fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      ...valid,
      {
        weight: 2,
        arbitrary: fc
          .constantFrom('admin', 'viewer', 'site')
          .map((k) => `Bearer ${tokens[k as keyof typeof tokens]}`),
      },
      {
        weight: 2,
        arbitrary: fc.oneof(
          headerValue().map((v) => `Bearer ${v}`),
          headerValue(),
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'Basic YWRtaW46YWRtaW4=',
            'Bearer a.b.c',
            'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
            `Bearer ${'A'.repeat(8000)}`,
          ),
          fc
            .constantFrom('admin', 'site')
            .map((k) => `Bearer ${tokens[k as keyof typeof tokens].slice(0, -3)}abc`),
        ),
      },
    );
  }

  function pathValue(): fc.Arbitrary<string> {
    return fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...known) },
      { weight: 2, arbitrary: fc.uuid() },
      { weight: 3, arbitrary: hostileString().map(percentEncode) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '..',
          '%2e%2e',
          '%2F',
          '%',
          '%zz',
          '%ED%A0%80',
          '%00',
          '%FF',
          'a'.repeat(10_000),
          '-1',
          '0x10',
          '1e400',
          '99999999999999999999',
          '1.5',
          ' ',
        ),
      },
    );
  }

  function queryString(): fc.Arbitrary<string> {
    const key = fc.oneof(
      fc.constantFrom(...queryKeys, 'limit', 'before', 'status', 'a[b][c]', 'limit[]'),
      hostileString().map(percentEncode),
    );
    const value = fc.oneof(
      hostileString().map(percentEncode),
      fc.integer().map(String),
      fc.constantFrom('', '1', '0', '-1', '1e400', 'approved', '2026-01-01', 'not-a-date', '%', '%FF'),
    );
    return fc.oneof(
      fc.constant(''),
      fc
        .array(fc.tuple(key, value), { minLength: 1, maxLength: 4 })
        .map((kv) => '?' + kv.map(([k, v]) => `${k}=${v}`).join('&')),
      fc.constantFrom('?', '?&&&=', '?=x', '?%', '?a=1&a=2&a=3', `?limit=${'9'.repeat(400)}`),
    );
  }

  it('answers every documented route with 2xx or a 4xx in the error shape, whatever the body, headers, path and query', async () => {
    // The operations' path templates and bodies all come from the app's OpenAPI document.
    const byOp = ops.map((op) =>
      fc.record({
        op: fc.constant(labelled(op, `${op.method} ${op.path}`)),
        method: fc.oneof(
          { weight: 12, arbitrary: fc.constant(op.method) },
          {
            weight: 1,
            arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
          },
        ),
        params: fc.array(pathValue(), { minLength: 4, maxLength: 4 }),
        query: queryString(),
        auth: authorization(op),
        body: bodyFor(op),
        contentType: fc.oneof(
          { weight: 6, arbitrary: fc.constant('application/json') },
          { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
          { weight: 1, arbitrary: headerValue() },
          { weight: 1, arbitrary: fc.constant(undefined) },
        ),
        encoding: fc.oneof(
          { weight: 8, arbitrary: fc.constant(undefined) },
          {
            weight: 1,
            arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-garbage', 'gzip, gzip'),
          },
          // A gzip bomb: 64 MiB of zeros in about 64 kB, declared as gzip.
          { weight: 1, arbitrary: fc.constant('gzip-bomb') },
        ),
        headers: fc.array(fc.tuple(fc.constantFrom(...EXTRA_HEADERS), headerValue()), { maxLength: 3 }),
        // Conditional and range requests with values the file and archive routes actually meet.
        conditional: fc.option(
          fc.oneof(
            fc.constantFrom(...etags).map((v): [string, string] => ['If-None-Match', v]),
            fc
              .constantFrom(
                'bytes=0-0',
                'bytes=-1',
                'bytes=5-2',
                'bytes=0-0,1-1,2-2,3-3',
                'bytes=99999999999-',
                `bytes=0-${'9'.repeat(30)}`,
                'bytes=abc',
                'bytes=',
                'items=0-1',
              )
              .map((v): [string, string] => ['Range', v]),
          ),
          { nil: undefined },
        ),
        chunked: fc.option(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), {
          freq: 8,
        }),
      }),
    );
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const started = Date.now();
    const run = await checkBounded(
      fc.asyncProperty(fc.oneof(...byOp), async (c) => {
        const names = pathParams(c.op.path);
        let target = c.op.path;
        names.forEach((n, i) => (target = target.replace(`{${n}}`, c.params[i])));
        target += c.query;
        const headers: [string, string][] = [];
        if (c.auth !== undefined) headers.push(['Authorization', c.auth]);
        let body = c.body;
        if (body !== undefined && c.contentType !== undefined) headers.push(['Content-Type', c.contentType]);
        if (c.encoding === 'gzip-bomb') {
          headers.push(['Content-Encoding', 'gzip']);
          body = bomb;
        } else if (c.encoding === 'gzip' && body) {
          headers.push(['Content-Encoding', 'gzip']);
          body = gzipSync(body);
        } else if (c.encoding) headers.push(['Content-Encoding', c.encoding]);
        headers.push(...c.headers);
        if (c.conditional) headers.push(c.conditional);
        const req: RawRequest = {
          method: c.method,
          target,
          headers,
          body,
          framing: c.chunked ? { kind: 'chunked', sizes: c.chunked } : { kind: 'length' },
        };
        const o = await rawHttp(t.url, req);
        memory.tick();
        if (o.kind === 'answer') byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
        const problem = answerProblem(o, c.method);
        if (problem) throw new Error(`${c.method} ${target.slice(0, 200)}: ${problem}`);
      }),
      { seed: SEED, numRuns: ROUTE_RUNS, timeLimitMs: TIME_LIMIT_MS, perRunTimeoutMs: 15_000 },
    );
    console.info(
      `[fuzz] REST routes: seed ${SEED}, ${run.numRuns}/${ROUTE_RUNS} runs in ${Date.now() - started} ms` +
        `${run.interrupted ? ' (time cap reached)' : ''}, ` +
        `statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}`,
    );
    memory.ensureBaseline();
    // More than a token amount of fuzzing happened, even on a slow machine.
    expect(run.numRuns).toBeGreaterThanOrEqual(Math.min(ROUTE_RUNS, 50));
  });

  it('answers malformed HTTP framing and headers with a 4xx (or closes), never a 5xx', async () => {
    const anyOp = () => fc.constantFrom(...ops.filter((o) => o.method === 'POST'));
    const started = Date.now();
    const run = await checkBounded(
      fc.asyncProperty(
        anyOp(),
        fc.oneof(
          // Content-Length shorter or longer than the body, not a number, negative, duplicated; both framings.
          fc.record({
            kind: fc.constant('length' as const),
            value: fc.oneof(
              fc.nat(400).map(String),
              fc.constantFrom('-1', 'abc', '1e3', '0x10', ' 5', '5, 6', '99999999999999999999'),
            ),
            both: fc.boolean(),
          }),
          fc.record({
            kind: fc.constant('header' as const),
            name: fc.constantFrom(
              'Authorization',
              'Content-Type',
              'X-Correlation-Id',
              PROTOCOL_HEADER,
              'X-Other',
            ),
            value: malformedHeaderValue(),
          }),
          fc.record({
            kind: fc.constant('protocol' as const),
            value: fc.oneof(
              headerValue(),
              fc.constantFrom(PROTOCOL_VERSION, '0.0.1', '99.0.0', '1', '-1.0.0', `${PROTOCOL_VERSION}-rc.1`),
            ),
          }),
        ),
        hostileJson(2),
        async (op, c, json) => {
          const body = Buffer.from(jsonText(json));
          const headers: [string, string][] = [
            ['Content-Type', 'application/json'],
            ['Authorization', `Bearer ${tokens.admin}`],
          ];
          let framing: RawRequest['framing'] = { kind: 'length' };
          let halfClose = false;
          if (c.kind === 'length') {
            framing = c.both ? { kind: 'both', value: c.value } : { kind: 'declared', value: c.value };
            // Declared longer than sent: we end our side, so the server sees the body cut short.
            halfClose = /^\s*\d+\s*$/.test(c.value) && Number(c.value) > body.length;
          } else if (c.kind === 'header') headers.push([c.name, c.value]);
          else headers.push([PROTOCOL_HEADER, c.value]);
          const target = op.path.replace(/\{\w+\}/g, randomUUID());
          const o = await rawHttp(
            t.url,
            { method: op.method, target, headers, body, framing },
            { halfClose, timeoutMs: 5_000 },
          );
          memory.tick();
          // A body cut short can only be answered by closing; so can a request the HTTP parser gives up on.
          // Anything that gets an answer follows the same rules as above.
          if (o.kind === 'closed' && (halfClose || c.kind !== 'protocol')) return;
          const problem = answerProblem(o, op.method);
          if (problem)
            throw new Error(`${op.method} ${target} ${JSON.stringify(c).slice(0, 200)}: ${problem}`);
        },
      ),
      { seed: SEED + 1, numRuns: FRAMING_RUNS, timeLimitMs: TIME_LIMIT_MS / 2, perRunTimeoutMs: 10_000 },
    );
    console.info(
      `[fuzz] REST framing: seed ${SEED + 1}, ${run.numRuns}/${FRAMING_RUNS} runs in ${Date.now() - started} ms`,
    );
    expect(run.numRuns).toBeGreaterThanOrEqual(Math.min(FRAMING_RUNS, 30));
  });

  it('is still healthy and ready afterwards, serves a normal request, and grew in memory within bounds', async () => {
    expect((await api('GET', '/healthz')).status).toBe(200);
    expect((await api('GET', '/readyz')).body).toMatchObject({ status: 'ready' });
    expect((await api('GET', '/api/v1/auth/me', undefined, { token: tokens.viewer })).status).toBe(200);
    const grown = memory.growth();
    expect(grown, 'memory was measured').not.toBeNull();
    console.info(
      `[fuzz] REST memory over ${memory.requests - memory.warmup} requests after the warm-up: ` +
        `${formatGrowth(grown!)} (bounds: RSS ${RSS_GROWTH_BOUND / 2 ** 20} MiB, heap ${HEAP_GROWTH_BOUND / 2 ** 20} MiB)`,
    );
    expect(grown!.rss).toBeLessThan(RSS_GROWTH_BOUND);
    expect(grown!.heap).toBeLessThan(HEAP_GROWTH_BOUND);
  });
});
