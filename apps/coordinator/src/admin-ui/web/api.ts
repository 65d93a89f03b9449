import type { ApiErrorBody } from '@casam/protocol';
import * as session from './session';

/** The error body as it may arrive (a proxy's answer may lack any part of it). */
type ErrorPayload = { error?: Partial<ApiErrorBody['error']> };

/** An answer of the API that is not 2xx: its `{error:{code,message,correlationId,details}}`, kept whole. */
export class ApiError extends Error {
  readonly code: string;
  readonly correlationId: string | null;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly status: number,
    body: ErrorPayload | null,
  ) {
    const e = body?.error ?? {};
    super(e.message ?? `HTTP ${status}`);
    this.code = e.code ?? 'http_error';
    this.correlationId = e.correlationId ?? null;
    this.details = e.details;
  }
}

/** Codes that mean the token no longer works: back to sign-in. */
const SESSION_ENDING = new Set([
  'token_expired',
  'invalid_token',
  'missing_token',
  'credentials_revoked',
  'account_disabled',
]);

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const s = session.current();
  const headers: Record<string, string> = {};
  if (s) headers['authorization'] = `Bearer ${s.accessToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, {
      error: {
        code: 'network_error',
        message: `the coordinator did not answer (${(e as Error).message})`,
      },
    });
  }
  if (res.ok) return res;
  let payload: ErrorPayload | null = null;
  try {
    payload = (await res.json()) as ErrorPayload;
  } catch {
    /* not JSON: keep the status */
  }
  const err = new ApiError(res.status, payload);
  if (res.status === 401 && s && SESSION_ENDING.has(err.code))
    session.end(
      err.code === 'token_expired'
        ? 'Your session expired. Please sign in again.'
        : `Signed out: ${err.message}`,
    );
  throw err;
}

/** One call of the REST API; `T` is the answer's type from @casam/protocol. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>('GET', path);
export const post = <T = unknown>(path: string, body?: unknown): Promise<T> =>
  api<T>('POST', path, body ?? {});

/** Downloads a protected file (the token travels in a header, so a plain link cannot do it). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await send('GET', path);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
