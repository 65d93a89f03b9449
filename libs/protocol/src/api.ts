/**
 * Shapes every coordinator REST response shares. Depends on nothing.
 */

/** The one error body of the coordinator's REST API. `code` is stable; switch on it, never on `message`. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    /** Also in the `X-Correlation-Id` response header; quote it when reporting a problem. */
    correlationId: string;
    details?: Record<string, unknown>;
  };
}

/** Response header carrying the request's correlation id (a client may send its own). */
export const CORRELATION_ID_HEADER = 'x-correlation-id';

/** `GET /healthz`: the process is alive (no dependency is checked). */
export interface LivenessResponse {
  status: 'ok';
  version: string;
  protocolVersion: string;
  uptimeSeconds: number;
}

export interface DependencyCheck {
  status: 'up' | 'down';
  latencyMs: number;
  /** Why it is down. */
  error?: string;
}

/** `GET /readyz`: 200 when every dependency answers; otherwise 503 with the checks in `error.details`. */
export interface ReadinessResponse {
  status: 'ready';
  checks: { database: DependencyCheck; blobStore: DependencyCheck };
}

export function isApiErrorBody(v: unknown): v is ApiErrorBody {
  const e = (v as { error?: { code?: unknown; message?: unknown; correlationId?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string' && typeof e.correlationId === 'string';
}
