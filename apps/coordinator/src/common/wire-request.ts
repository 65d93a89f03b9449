import { Body, Param, type PipeTransform, Query } from '@nestjs/common';
import type { z } from 'zod';
import { coordinatorBodySchema, type HttpMessage, issueLines, wireParamsSchema } from '@casam/protocol';
import { RequestValidationError } from './domain-error';

/** Handler metadata: the wire message (libs/protocol) a route implements; the OpenAPI document reads it. */
export const WIRE_MESSAGE_METADATA = 'casam:wire-message';

/** Parses one part of a request with a message's schema; a refusal is 400 `validation_failed`, every problem listed. */
class WireSchemaPipe implements PipeTransform {
  constructor(
    private readonly schema: z.ZodType,
    private readonly part: 'body' | 'query' | 'params',
  ) {}

  transform(value: unknown): unknown {
    // Express hands a missing JSON body over as undefined and a query as a null-prototype object.
    const input = this.part === 'body' ? value : { ...(value as object) };
    const r = this.schema.safeParse(input);
    if (!r.success) throw new RequestValidationError(issueLines(r.error.issues, this.part));
    return r.data;
  }
}

/** Records which message a handler implements (twice the same is fine; two different ones are a bug). */
function markHandler(target: object, key: string | symbol | undefined, m: HttpMessage): void {
  const handler = (target as Record<string | symbol, object>)[key!];
  const known = Reflect.getMetadata(WIRE_MESSAGE_METADATA, handler) as HttpMessage | undefined;
  if (known && known !== m)
    throw new Error(`${String(key)}: one handler, two wire messages (${known.path}, ${m.path})`);
  Reflect.defineMetadata(WIRE_MESSAGE_METADATA, m, handler);
}

/**
 * The request body of message `m`, parsed with its schema (the `serviceChecked` fields in their looser form:
 * the service refuses those with codes of its own). Unknown fields are refused, never dropped.
 */
export function WireBody(m: HttpMessage): ParameterDecorator {
  const schema = coordinatorBodySchema(m);
  if (!schema) throw new Error(`${m.method} ${m.path} has no JSON body`);
  return (target, key, index) => {
    markHandler(target, key, m);
    Body(new WireSchemaPipe(schema, 'body'))(target, key, index);
  };
}

/** The path parameters of message `m`, each checked against its kind (an id, a chunk index…). */
export function WireParams(m: HttpMessage): ParameterDecorator {
  const schema = wireParamsSchema(m);
  return (target, key, index) => {
    markHandler(target, key, m);
    Param(new WireSchemaPipe(schema, 'params'))(target, key, index);
  };
}

/** The query string of message `m`, parsed with its schema (numbers come out as numbers). */
export function WireQuery(m: HttpMessage): ParameterDecorator {
  if (!m.query) throw new Error(`${m.method} ${m.path} has no query`);
  const schema = m.query;
  return (target, key, index) => {
    markHandler(target, key, m);
    Query(new WireSchemaPipe(schema, 'query'))(target, key, index);
  };
}
