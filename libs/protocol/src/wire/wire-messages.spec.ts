import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AdapterUploadSignatureClaimsSchema,
  CreateUploadRequestSchema,
  isUploadChunkSize,
  UPLOAD_LIMITS,
} from '../adapter-uploads';
import {
  coordinatorBodySchema,
  type HttpMessage,
  wireParamsSchema,
  wirePath,
  wirePathPattern,
} from './wire-message';
import { HTTP_MESSAGES, SOCKET_MESSAGES } from './wire-messages';
import { wireProblems } from './wire-problems';

const TASK = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
const upload = (over: Record<string, unknown> = {}) => ({
  taskId: TASK,
  totalSize: 1000,
  sha256: 'a'.repeat(64),
  chunkSize: UPLOAD_LIMITS.minChunkBytes,
  ...over,
});
const messages = Object.entries(HTTP_MESSAGES) as [string, HttpMessage][];

describe('upload limits: written once (UPLOAD_LIMITS), the same for every side', () => {
  it('the upload request takes exactly the sizes UPLOAD_LIMITS allows', () => {
    const ok = (o: Record<string, unknown>) => CreateUploadRequestSchema.safeParse(upload(o)).success;
    const { minChunkBytes, maxChunkBytes, maxTotalBytes } = UPLOAD_LIMITS;
    expect([minChunkBytes, maxChunkBytes].map((chunkSize) => ok({ chunkSize }))).toEqual([true, true]);
    expect([minChunkBytes - 1, maxChunkBytes + 1].map((chunkSize) => ok({ chunkSize }))).toEqual([
      false,
      false,
    ]);
    expect([1, maxTotalBytes].map((totalSize) => ok({ totalSize }))).toEqual([true, true]);
    expect([0, maxTotalBytes + 1].map((totalSize) => ok({ totalSize }))).toEqual([false, false]);
    for (const c of [minChunkBytes - 1, minChunkBytes, maxChunkBytes, maxChunkBytes + 1, 1.5])
      expect(isUploadChunkSize(c), String(c)).toBe(ok({ chunkSize: c }));
  });

  it('a signed upload may be as large as an upload, no larger', () => {
    const shape = AdapterUploadSignatureClaimsSchema.shape.size;
    expect(shape.safeParse(UPLOAD_LIMITS.maxTotalBytes).success).toBe(true);
    expect(shape.safeParse(UPLOAD_LIMITS.maxTotalBytes + 1).success).toBe(false);
  });

  it("the coordinator's pipe lets an over-limit size through to its service, which answers 413 / invalid_chunk_size", () => {
    const accepted = coordinatorBodySchema(HTTP_MESSAGES.upload_create)!;
    expect(
      accepted.safeParse(upload({ totalSize: UPLOAD_LIMITS.maxTotalBytes + 1, chunkSize: 1 })).success,
    ).toBe(true);
    expect(wireProblems(accepted, upload({ totalSize: '12', extra: 1 }))).toEqual([
      'totalSize must be a number',
      'unknown field "extra"',
    ]);
  });
});

describe('the wire messages', () => {
  it('name each route once', () => {
    const routes = messages.map(([, m]) => `${m.method} ${m.path}`);
    expect(new Set(routes).size).toBe(routes.length);
  });

  it('describe every body and query in JSON Schema, unknown fields refused', () => {
    for (const [name, m] of messages) {
      for (const schema of [m.body, m.query])
        if (schema && typeof schema !== 'string') {
          const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<
            string,
            unknown
          >;
          expect(json['additionalProperties'], name).toBe(false);
        }
      for (const loose of Object.keys(m.serviceChecked ?? {}))
        expect((m.body as z.ZodObject).shape, `${name}.${loose}`).toHaveProperty(loose);
    }
    for (const s of Object.values(SOCKET_MESSAGES))
      expect(() => z.toJSONSchema(s.body, { io: 'input' })).not.toThrow();
  });

  it('build paths that their own patterns and parameter schemas accept', () => {
    const values = { uuid: TASK, chunkIndex: 12, bundleVersion: 7 } as const;
    for (const [name, m] of messages) {
      const params = Object.fromEntries(Object.entries(m.params ?? {}).map(([k, kind]) => [k, values[kind]]));
      const path = wirePath(m, params);
      expect(wirePathPattern(m).test(path), `${name} ${path}`).toBe(true);
      const groups = wirePathPattern(m).exec(path)?.groups ?? {};
      expect(wireProblems(wireParamsSchema(m), { ...groups }), name).toEqual([]);
    }
    expect(wirePathPattern(HTTP_MESSAGES.upload_chunk).test(`/api/v1/uploads/${TASK}/chunks/-1`)).toBe(false);
    expect(wirePathPattern(HTTP_MESSAGES.get_task).test(`/api/v1/tasks/${TASK}/../admins`)).toBe(false);
  });
});

describe('wireProblems', () => {
  it('says where and what, one line per problem, in plain words', () => {
    expect(
      wireProblems(HTTP_MESSAGES.propose_task.body, {
        name: 'liver\nDOB 1970',
        modality: 'CT',
        targetStructures: [],
        baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:x', extra: 1 },
        note: 'x',
      }),
    ).toEqual([
      'name must not contain a control character (U+000A at character 6): names are one line of printable text',
      'targetStructures must have at least 1 item(s)',
      'baseModel.fingerprint must be "sha256:" and 64 lower-case hex digits',
      'baseModel: unknown field "extra"',
      'unknown field "note"',
    ]);
    expect(wireProblems(HTTP_MESSAGES.login.body, null)).toEqual(['body must be an object']);
    expect(wireProblems(HTTP_MESSAGES.login.body, {})).toEqual(['email is missing', 'password is missing']);
  });
});
