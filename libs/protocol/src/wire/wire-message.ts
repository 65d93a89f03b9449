/**
 * What a wire message is: one HTTP route (method, path with typed parameters, query, body) or one socket
 * event, described once. From a message come its TypeScript types (`z.infer`), the coordinator's request
 * validation and OpenAPI description, the site agent's egress allowlist and the client's paths.
 */
import { z } from 'zod';
import { UUID_PATTERN } from './wire-fields';

/** The kinds of path parameter, each with the pattern its value must match. */
export const PATH_PARAMS = {
  /** An id the coordinator made. */
  uuid: { pattern: UUID_PATTERN, words: 'must be an id (UUID)' },
  /** A chunk's index (0-based, below the upload's chunk count). */
  chunkIndex: { pattern: '\\d{1,7}', words: 'must be a non-negative integer' },
  /** A published router bundle's version. */
  bundleVersion: { pattern: '[1-9]\\d{0,8}', words: 'must be a positive integer' },
} as const;

export type PathParamKind = keyof typeof PATH_PARAMS;

/** `none`: no body (reads); `bytes`: raw bytes (adapter chunks); otherwise a JSON body of this schema. */
export type WireBody = 'none' | 'bytes' | z.ZodType;

export interface HttpMessage<B extends WireBody = WireBody> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Express-style template: `/api/v1/uploads/:id/chunks/:index`. */
  path: string;
  /** The kind of each `:name` in `path`. */
  params?: Readonly<Record<string, PathParamKind>>;
  /** Query-string fields (values arrive as strings). */
  query?: z.ZodObject;
  body: B;
  /**
   * Fields the coordinator's services refuse with codes of their own (413 `upload_too_large`,
   * `private_key_sent`, …) after the schema: its validation pipe checks these looser forms instead, so a
   * refusal names the rule the client broke. Everyone else (the egress allowlist, the OpenAPI document, the
   * types) reads the strict `body`.
   */
  serviceChecked?: Readonly<Record<string, z.ZodType>>;
  /** JSON string fields holding compact JWS, and the claims their payload must have. */
  jws?: Readonly<Record<string, z.ZodObject>>;
  /** One line for the OpenAPI document and for people. */
  summary: string;
}

export interface SocketMessage<B extends z.ZodType = z.ZodType> {
  /** The socket.io event (`connect` for the handshake's `auth`). */
  event: string;
  body: B;
}

/** Checks a message's shape at definition time (a path parameter without a kind is a typo). */
export function httpMessage<const M extends HttpMessage>(m: M): M {
  const names = [...m.path.matchAll(/:([A-Za-z]+)/g)].map((x) => x[1]);
  const kinds = Object.keys(m.params ?? {});
  if (names.join(',') !== kinds.join(','))
    throw new Error(
      `wire message ${m.method} ${m.path}: params ${kinds.join(',')} ≠ path's ${names.join(',')}`,
    );
  return Object.freeze(m);
}

export const socketMessage = <const M extends SocketMessage>(m: M): M => Object.freeze(m);

/** The JSON body type of a message (`never` for reads and byte bodies). */
export type WireRequest<M extends HttpMessage> = M['body'] extends z.ZodType ? z.infer<M['body']> : never;

/** `/api/v1/uploads/<id>/chunks/<index>`: the path with its parameters filled in (encoded). */
export function wirePath(m: HttpMessage, params: Record<string, string | number> = {}): string {
  return m.path.replace(/:([A-Za-z]+)/g, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`${m.path}: no value for :${k}`);
    return encodeURIComponent(String(v));
  });
}

/** An anchored pattern of the message's path (without the query string). */
export function wirePathPattern(m: HttpMessage): RegExp {
  const source = m.path
    .split(/(:[A-Za-z]+)/)
    .map((part) =>
      part.startsWith(':')
        ? `(?<${part.slice(1)}>${PATH_PARAMS[m.params![part.slice(1)]].pattern})`
        : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`);
}

/** The path parameters as one schema (for the coordinator's pipe and the OpenAPI parameters). */
export function wireParamsSchema(m: HttpMessage): z.ZodObject {
  return z.strictObject(
    Object.fromEntries(
      Object.entries(m.params ?? {}).map(([k, kind]) => [
        k,
        z.string().regex(new RegExp(`^${PATH_PARAMS[kind].pattern}$`), { error: PATH_PARAMS[kind].words }),
      ]),
    ),
  );
}

/** The schema the coordinator's validation pipe applies: `body` with the `serviceChecked` fields loosened. */
export function coordinatorBodySchema(m: HttpMessage): z.ZodType | null {
  if (typeof m.body === 'string') return null;
  if (!m.serviceChecked) return m.body;
  if (!(m.body instanceof z.ZodObject)) throw new Error(`${m.path}: serviceChecked needs an object body`);
  return m.body.extend(m.serviceChecked);
}

/**
 * The body the coordinator's pipe lets through to its services: the message's body type with the
 * `serviceChecked` fields in their looser form (the services refuse the rest themselves).
 */
export type AcceptedRequest<M extends HttpMessage> = M['body'] extends z.ZodType
  ? M['serviceChecked'] extends Readonly<Record<string, z.ZodType>>
    ? Omit<z.infer<M['body']>, keyof M['serviceChecked']> & {
        [K in keyof M['serviceChecked']]: z.infer<M['serviceChecked'][K]>;
      }
    : z.infer<M['body']>
  : never;
