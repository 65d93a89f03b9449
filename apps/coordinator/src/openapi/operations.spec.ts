import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HTTP_MESSAGES, type HttpMessage, PROTOCOL_VERSION, UPLOAD_LIMITS } from '@casam/protocol';
import { startTestApp, type TestApp } from '../../testing/test-app';

interface Op {
  operationId: string;
  security: unknown[];
  'x-casam-audience': string[];
  'x-casam-message'?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
}

describe('operations surface: OpenAPI, Prometheus metrics, protocol header (real app)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves an OpenAPI 3 document at /api/openapi.json describing every route with its audience', async () => {
    const res = await fetch(`${t.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, Op>>;
      components: { schemas: Record<string, { properties?: object; additionalProperties?: boolean }> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/healthz'].get['x-casam-audience']).toEqual(['public']);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(ops.length).toBeGreaterThan(2);
    for (const op of ops) {
      for (const a of op['x-casam-audience']) expect(['public', 'viewer', 'admin', 'site']).toContain(a);
      if (!op['x-casam-audience'].includes('public')) expect(op.security).toEqual([{ bearer: [] }]);
      const ref = op.requestBody?.content['application/json']?.schema.$ref;
      if (ref) {
        // Every JSON body is described by its wire message's schema, unknown fields refused.
        const schema = doc.components.schemas[ref.split('/').pop()!];
        expect(schema, `${op.operationId} body ${ref}`).toBeDefined();
        expect(Object.keys(schema.properties ?? {}).length, `${op.operationId} body ${ref}`).toBeGreaterThan(
          0,
        );
        expect(schema.additionalProperties).toBe(false);
      }
    }
    // names carry their rule (length and the characters they may not hold), as the pipe enforces it
    const propose = doc.components.schemas['ProposeTaskRequest'] as {
      properties: Record<string, { maxLength?: number; pattern?: string; items?: { maxLength?: number } }>;
    };
    expect(propose.properties['name']).toMatchObject({ type: 'string', minLength: 1, maxLength: 200 });
    expect(propose.properties['modality']).toMatchObject({ maxLength: 50 });
    expect(propose.properties['targetStructures'].items).toMatchObject({ type: 'string', maxLength: 100 });
    const pattern = new RegExp(propose.properties['name'].pattern ?? '');
    for (const ok of ['liver CT', '🫁 lungs', '肝臓']) expect(pattern.test(ok), ok).toBe(true);
    for (const bad of ['liver\nx', '\u001b[2J', 'a\u202eb', 'a\u0085', '   '])
      expect(pattern.test(bad), JSON.stringify(bad)).toBe(false);
  });

  it('serves exactly the wire messages of libs/protocol, each described by its own schemas', async () => {
    const doc = (await (await fetch(`${t.url}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Op>>;
      components: { schemas: Record<string, { properties?: Record<string, { maximum?: number }> }> };
    };
    const served = Object.values(doc.paths).flatMap((p) =>
      Object.values(p).map((op) => op['x-casam-message']),
    );
    expect(served.every((name) => typeof name === 'string')).toBe(true);
    expect([...served].sort()).toEqual(Object.keys(HTTP_MESSAGES).sort());
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        const m: HttpMessage = HTTP_MESSAGES[op['x-casam-message'] as keyof typeof HTTP_MESSAGES];
        expect(`${m.method} ${m.path.replace(/:([A-Za-z]+)/g, '{$1}')}`).toBe(
          `${method.toUpperCase()} ${path}`,
        );
        expect((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)).toEqual(
          Object.keys(m.params ?? {}),
        );
        const ref = op.requestBody?.content['application/json']?.schema.$ref;
        if (typeof m.body === 'string') expect(ref).toBeUndefined();
        else
          expect(doc.components.schemas[ref!.split('/').pop()!]).toEqual(
            z.toJSONSchema(m.body, { target: 'openapi-3.0', io: 'input' }),
          );
      }
    // the limits a client reads are the ones the coordinator enforces
    const upload = doc.components.schemas['UploadCreateRequest'].properties!;
    expect(upload['totalSize'].maximum).toBe(UPLOAD_LIMITS.maxTotalBytes);
    expect(upload['chunkSize'].maximum).toBe(UPLOAD_LIMITS.maxChunkBytes);
  });

  it('serves the browsable reference from local assets only', async () => {
    const res = await fetch(`${t.url}/api/docs`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/swagger/i);
    expect(html).not.toMatch(/(src|href)="https?:\/\//);
  });

  it('exposes Prometheus metrics with route-pattern labels and federation gauges', async () => {
    await fetch(`${t.url}/healthz`);
    await fetch(`${t.url}/api/v1/nothing-here`);
    await t.db.prisma.site.create({ data: { name: 'metrics-site', status: 'approved' } });
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/casam_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    expect(text).toMatch(/casam_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    expect(text).toMatch(/casam_sites\{status="approved"\} 1/);
    expect(text).toMatch(/casam_bundle_latest_version \d+/);
    expect(text).toMatch(/casam_coordinator_process_resident_memory_bytes/);
  });

  it('states its protocol version on every response', async () => {
    const res = await fetch(`${t.url}/healthz`, { headers: { 'x-casam-protocol': PROTOCOL_VERSION } });
    expect(res.headers.get('x-casam-protocol')).toBe(PROTOCOL_VERSION);
  });
});

describe('metrics behind a scrape token', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite', { env: { COORDINATOR_METRICS_TOKEN: 'scrape-token-0123456789' } });
  });
  afterAll(async () => {
    await t?.close();
  });
  it('refuses a scrape without the token and serves one with it', async () => {
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    const ok = await fetch(`${t.url}/metrics`, {
      headers: { authorization: 'Bearer scrape-token-0123456789' },
    });
    expect(ok.status).toBe(200);
  });
});
