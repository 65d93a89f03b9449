import type { OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';
import { HTTP_MESSAGES, type HttpMessage, type HttpMessageName, PATH_PARAMS } from '@casam/protocol';

type Operation = {
  operationId?: string;
  summary?: string;
  parameters?: unknown[];
  requestBody?: unknown;
  'x-casam-message'?: string;
};

const jsonSchema = (schema: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;

/** `upload_create` → `UploadCreateRequest`: the component name of a message's body. */
export const bodySchemaName = (name: string): string =>
  `${name.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase())}Request`;

/** `/api/v1/uploads/:id` → `/api/v1/uploads/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z]+)/g, '{$1}');

/**
 * Describes every operation of `doc` by its wire message (libs/protocol), found by method and path: summary,
 * path parameters, query parameters, request body (a component schema per message). An operation without a
 * message, or a handler that validates with another message than its route's, is a bug and throws.
 */
export function describeWireMessages(doc: OpenAPIObject, handlerMessages: Map<string, object>): void {
  const byRoute = new Map<string, [HttpMessageName, HttpMessage]>();
  for (const [name, m] of Object.entries(HTTP_MESSAGES) as [HttpMessageName, HttpMessage][])
    byRoute.set(`${m.method} ${openApiPath(m.path)}`, [name, m]);
  const schemas = ((doc.components ??= {}).schemas ??= {});
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      if (!op || typeof op !== 'object' || !op.operationId) continue;
      const found = byRoute.get(`${method.toUpperCase()} ${path}`);
      if (!found)
        throw new Error(`${method.toUpperCase()} ${path} is served but is no wire message of libs/protocol`);
      const [name, m] = found;
      const declared = handlerMessages.get(op.operationId);
      if (declared && declared !== m)
        throw new Error(
          `${op.operationId} (${method.toUpperCase()} ${path}) validates with another message's schema`,
        );
      op['x-casam-message'] = name;
      op.summary = m.summary;
      op.parameters = [
        ...Object.entries(m.params ?? {}).map(([p, kind]) => ({
          name: p,
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: `^${PATH_PARAMS[kind].pattern}$` },
        })),
        ...queryParameters(m),
      ];
      if (m.body === 'bytes')
        op.requestBody = {
          required: true,
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        };
      else if (m.body === 'none') delete op.requestBody;
      else {
        const ref = bodySchemaName(name);
        schemas[ref] = jsonSchema(m.body);
        op.requestBody = {
          required: true,
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
        };
      }
    }
}

function queryParameters(m: HttpMessage): unknown[] {
  if (!m.query) return [];
  const s = jsonSchema(m.query) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([p, schema]) => ({
    name: p,
    in: 'query',
    required: s.required?.includes(p) ?? false,
    schema,
  }));
}
