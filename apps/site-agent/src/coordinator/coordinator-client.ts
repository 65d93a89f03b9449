import {
  type AccessTokenResponse,
  type ApiErrorBody,
  type BundleDetail,
  type BundleJwks,
  type EnrollSiteRequest,
  type EnrollSiteResponse,
  HTTP_MESSAGES,
  type SiteTokenRequest,
  isApiErrorBody,
  PROTOCOL_HEADER,
  PROTOCOL_UPGRADE_HEADER,
  PROTOCOL_VERSION,
  wirePath,
} from '@casam/protocol';
import type { EgressGateway, HttpRequestOptions } from '../egress/egress';
import type { HttpMessageType } from '../egress/messages';
import type { SiteIdentity } from '../identity/site-identity';
import { printable } from '../cli/printable';

/** The coordinator answered with its error body: `code` is stable, switch on it. */
export class CoordinatorError extends Error {
  override name = 'CoordinatorError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly correlationId: string | null,
    readonly details?: Record<string, unknown>,
  ) {
    // The coordinator's words are printed to terminals and logs: escaped, so they cannot forge lines or steer one.
    super(
      `${printable(message)} (${printable(code)}, HTTP ${status}${correlationId ? `, correlation id ${printable(correlationId)}` : ''})`,
    );
  }
}

/** The coordinator could not be reached (network down, DNS, refused, reset, timeout). */
export class CoordinatorUnreachableError extends Error {
  override name = 'CoordinatorUnreachableError';
}

const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** What to do about a connection failure that needs a person (null: transient, worth retrying). */
function connectionHint(e: unknown): string | null {
  const cause = (e as { cause?: { code?: string; name?: string } }).cause;
  if (cause?.code && UNTRUSTED_CERTIFICATE.has(cause.code))
    return "this machine does not trust the coordinator's certificate: set NODE_EXTRA_CA_CERTS=<the hospital or federation CA, PEM> in the agent's environment (site-agent preflight checks it)";
  if (cause?.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'the certificate does not name this host: use the host name it was issued for in coordinatorUrl';
  if (cause?.name === 'ProxyError')
    return 'check HTTPS_PROXY/NO_PROXY and that the proxy allows CONNECT to the coordinator (site-agent preflight checks it)';
  return null;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Exponential backoff with full jitter: the n-th wait is uniform in [0, min(max, base·2ⁿ)]. */
export function backoffDelay(
  attempt: number,
  p: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  rand = Math.random,
): number {
  return Math.floor(rand() * Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** attempt));
}

/** The longest a rate-limited call waits before its next try, whatever `Retry-After` asks. */
export const MAX_RATE_LIMIT_WAIT_MS = 60_000;

/**
 * How long to wait after a 429: what `Retry-After` (seconds) asks, plus up to a second of jitter so sites
 * refused together do not return together; the backoff delay when the header is missing or not a number.
 */
export function rateLimitDelay(
  retryAfter: string | null,
  attempt: number,
  p: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  rand = Math.random,
): number {
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : NaN;
  const ms = Number.isFinite(seconds)
    ? seconds * 1000 + Math.floor(rand() * 1000)
    : backoffDelay(attempt, p, rand);
  return Math.min(ms, MAX_RATE_LIMIT_WAIT_MS);
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8000 };

/**
 * Typed calls to the coordinator, all through the egress gateway. Adds the protocol header, exchanges the
 * site's signed assertion for a short-lived access token (and renews it a minute before it expires), turns error
 * bodies into {@link CoordinatorError}, retries idempotent calls on network errors and 5xx with backoff, and
 * retries any call the coordinator rate-limited (429) after the `Retry-After` it names.
 */
export class CoordinatorClient {
  private token: { value: string; expiresAt: number } | null = null;
  private upgradeAdvised = false;

  constructor(
    readonly egress: EgressGateway,
    private identity: SiteIdentity,
    private siteId: string | null,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    /** Where the coordinator's upgrade advice goes (once per client): a site one protocol minor behind. */
    private readonly warn: (line: string) => void = (l) => console.error(l),
  ) {}

  setSiteId(id: string): void {
    this.siteId = id;
    this.token = null;
  }

  /** Signs with another key from now on (after a key rotation); the cached token is dropped. */
  setIdentity(identity: SiteIdentity): void {
    this.identity = identity;
    this.token = null;
  }

  /** Forget the cached access token (after a 401, a key rotation…). */
  dropToken(): void {
    this.token = null;
  }

  async jwks(): Promise<BundleJwks> {
    return this.json<BundleJwks>(
      'read_jwks',
      { path: wirePath(HTTP_MESSAGES.jwks) },
      { idempotent: true, auth: false },
    );
  }

  async enroll(body: Omit<EnrollSiteRequest, 'publicJwk'>): Promise<EnrollSiteResponse> {
    const request: EnrollSiteRequest = { ...body, publicJwk: this.identity.publicJwk };
    const res = await this.json<EnrollSiteResponse>(
      'enroll',
      { path: wirePath(HTTP_MESSAGES.enroll), body: request },
      { auth: false },
    );
    this.setSiteId(res.siteId);
    return res;
  }

  /** A valid access token (exchanging a fresh assertion when none is cached or it expires within 60 s). */
  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt - Date.now() > 60_000) return this.token.value;
    if (!this.siteId) throw new Error('the site is not enrolled yet (no site id); run site-agent enroll');
    const assertion = await this.identity.siteAssertion(this.siteId);
    const res = await this.json<AccessTokenResponse>(
      'site_token',
      { path: wirePath(HTTP_MESSAGES.site_token), body: { assertion } satisfies SiteTokenRequest },
      { auth: false },
    );
    this.token = { value: res.accessToken, expiresAt: Date.parse(res.expiresAt) };
    return res.accessToken;
  }

  async latestBundle(): Promise<BundleDetail | null> {
    try {
      return await this.json<BundleDetail>(
        'read_bundle',
        { path: wirePath(HTTP_MESSAGES.latest_bundle) },
        { idempotent: true },
      );
    } catch (e) {
      if (e instanceof CoordinatorError && e.status === 404) return null;
      throw e;
    }
  }

  /** One authenticated call whose answer is JSON. */
  async json<T>(
    type: HttpMessageType,
    opts: HttpRequestOptions,
    o: { idempotent?: boolean; auth?: boolean } = {},
  ): Promise<T> {
    const res = await this.send(type, opts, o);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CoordinatorError(
        res.status,
        'bad_response',
        `coordinator answered ${type} with non-JSON`,
        res.headers.get('x-correlation-id'),
      );
    }
  }

  /** One call; the raw Response (status < 400), or a CoordinatorError / CoordinatorUnreachableError. */
  async send(
    type: HttpMessageType,
    opts: HttpRequestOptions,
    o: { idempotent?: boolean; auth?: boolean } = {},
  ): Promise<Response> {
    const auth = o.auth ?? true;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { [PROTOCOL_HEADER]: PROTOCOL_VERSION, ...opts.headers };
      if (auth) headers['authorization'] = `Bearer ${await this.accessToken()}`;
      let res: Response;
      try {
        res = await this.egress.request(type, { ...opts, headers });
      } catch (e) {
        if ((e as Error).name === 'EgressRefusedError' || (e as Error).name === 'AbortError') throw e;
        const hint = connectionHint(e);
        // An untrusted certificate or a refusing proxy does not heal by retrying.
        if (o.idempotent && !hint && attempt + 1 < this.retry.attempts) {
          await this.sleep(backoffDelay(attempt, this.retry));
          continue;
        }
        throw new CoordinatorUnreachableError(
          `cannot reach the coordinator at ${this.egress.coordinatorUrl}: ${(e as Error).cause ? String((e as Error).cause) : (e as Error).message}${hint ? ` — ${hint}` : ''}`,
        );
      }
      const advice = res.headers.get(PROTOCOL_UPGRADE_HEADER);
      if (advice && !this.upgradeAdvised) {
        this.upgradeAdvised = true;
        this.warn(`warning: the coordinator advises upgrading this site agent: ${advice}`);
      }
      if (res.status < 400) return res;
      const body = await res.json().catch(() => null);
      const err = isApiErrorBody(body)
        ? new CoordinatorError(
            res.status,
            (body as ApiErrorBody).error.code,
            (body as ApiErrorBody).error.message,
            (body as ApiErrorBody).error.correlationId,
            (body as ApiErrorBody).error.details,
          )
        : new CoordinatorError(
            res.status,
            'http_error',
            `coordinator answered ${type} with HTTP ${res.status}`,
            res.headers.get('x-correlation-id'),
          );
      if (
        res.status === 401 &&
        auth &&
        attempt === 0 &&
        ['token_expired', 'invalid_token'].includes(err.code)
      ) {
        this.token = null; // clock skew or a coordinator restart with a new secret: one fresh token, then give up
        continue;
      }
      // A 429 is refused before the coordinator acts on the request, so any call may be sent again.
      if (res.status === 429 && attempt + 1 < this.retry.attempts) {
        await this.sleep(rateLimitDelay(res.headers.get('retry-after'), attempt, this.retry));
        continue;
      }
      if (o.idempotent && res.status >= 500 && attempt + 1 < this.retry.attempts) {
        await this.sleep(backoffDelay(attempt, this.retry));
        continue;
      }
      throw err;
    }
  }
}
