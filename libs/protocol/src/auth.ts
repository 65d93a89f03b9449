/**
 * Identity and access on the wire: admin login, enrollment tokens, site enrollment, site assertions exchanged
 * for access tokens, key rotation and the admin's view of sites. Shared by the coordinator, the site agent and
 * the admin UI. Depends on zod only.
 */
import { z } from 'zod';
import { compactJws, epochSeconds, jti, name, reason, sitePublicJwk, uuid } from './wire/wire-fields';

/** `aud` of the signed assertion a site exchanges for an access token (`POST /api/v1/auth/site-token`). */
export const SITE_TOKEN_AUDIENCE = 'casam-coordinator/site-token';
/** `aud` of the proof of possession that goes with a new site key (`POST /api/v1/sites/me/keys`). */
export const KEY_ROTATION_AUDIENCE = 'casam-coordinator/key-rotation';
/** Longest accepted lifetime (`exp − iat`) of a site assertion or a key-rotation proof, in seconds. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Longest accepted `jti` of a site assertion or a key-rotation proof. */
export const MAX_ASSERTION_JTI_LENGTH = 200;
/** The only signature algorithm sites use (Ed25519). */
export const SITE_KEY_ALGORITHM = 'EdDSA';
/** Every enrollment token starts with this, so a leaked one is easy to recognise (and to grep for). */
export const ENROLLMENT_TOKEN_PREFIX = 'cset_';

export type AdminRoleName = 'admin' | 'viewer';

/** A site's public key as it sends it: an Ed25519 OKP JWK (RFC 8037) with no private part. */
export const SitePublicJwkSchema = sitePublicJwk;
export type SitePublicJwk = z.infer<typeof SitePublicJwkSchema>;

/** Longest compact JWS a site sends (an assertion, a key-rotation proof, an upload signature). */
export const MAX_SITE_JWS_LENGTH = 6300;
/** Longest JWS-carrying string the coordinator reads before its own checks (which name what is wrong). */
export const MAX_JWS_FIELD_LENGTH = 8192;
const anyJws = z.string().min(1).max(MAX_JWS_FIELD_LENGTH);
/** Any JSON object: the coordinator's own key parser names what is wrong with a key (`private_key_sent`, …). */
const anyObject = z.record(z.string(), z.unknown());

/** A bearer token the coordinator issued; send it as `Authorization: Bearer <accessToken>`. */
export interface AccessTokenResponse {
  accessToken: string;
  tokenType: 'Bearer';
  /** ISO 8601; ask for a new one before then. */
  expiresAt: string;
}

// --- Admins -------------------------------------------------------------------------------------------------

/** Longest email address accepted (RFC 5321's path limit is 256; this leaves room without allowing abuse). */
export const MAX_EMAIL_LENGTH = 320;
/** Longest password read (the service's own rule asks for 12 to 1024 characters). */
export const MAX_PASSWORD_INPUT_LENGTH = 4096;

/** `POST /api/v1/auth/login` */
export const LoginRequestSchema = z.strictObject({
  email: z.string().max(MAX_EMAIL_LENGTH),
  password: z.string().max(MAX_PASSWORD_INPUT_LENGTH),
});
export type LoginRequest = z.infer<typeof LoginRequestSchema>;

export interface LoginResponse extends AccessTokenResponse {
  admin: { id: string; email: string; role: AdminRoleName };
}

/** An admin account as the API shows it (never the password hash). */
export interface AdminSummary {
  id: string;
  email: string;
  role: AdminRoleName;
  /** ISO 8601 when disabled, else null. */
  disabledAt: string | null;
  lastLoginAt: string | null;
  createdAt: string;
}

/** `GET /api/v1/auth/me`: who the token belongs to. */
export type MeResponse = AdminSummary;

export const ADMIN_ROLES: readonly AdminRoleName[] = ['admin', 'viewer'];

/** `POST /api/v1/admins` */
export const CreateAdminRequestSchema = z.strictObject({
  email: z.string().max(MAX_EMAIL_LENGTH),
  role: z.enum(['admin', 'viewer']),
  /** 12 to 1024 characters; must not contain the email's name (the service's rule, shared with the CLI). */
  password: z.string().max(MAX_PASSWORD_INPUT_LENGTH),
});
export type CreateAdminRequest = z.infer<typeof CreateAdminRequestSchema>;

// --- Enrollment ---------------------------------------------------------------------------------------------

/** Lifetime of an enrollment token, in seconds. */
export const ENROLLMENT_TOKEN_TTL_SECONDS = Object.freeze({
  min: 60,
  default: 24 * 3600,
  max: 7 * 24 * 3600,
});

/** `POST /api/v1/enrollment-tokens` */
export const CreateEnrollmentTokenRequestSchema = z.strictObject({
  /** For the admin: which hospital the token is for. */
  label: z.string().min(1).max(200).optional(),
  /** 60 s to 7 days; default 24 h. */
  ttlSeconds: z.int().min(ENROLLMENT_TOKEN_TTL_SECONDS.min).max(ENROLLMENT_TOKEN_TTL_SECONDS.max).optional(),
});
export type CreateEnrollmentTokenRequest = z.infer<typeof CreateEnrollmentTokenRequestSchema>;

export type EnrollmentTokenState = 'active' | 'used' | 'revoked' | 'expired';

export interface EnrollmentTokenSummary {
  id: string;
  label: string | null;
  state: EnrollmentTokenState;
  createdById: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedBySiteId: string | null;
  revokedAt: string | null;
}

/** The answer to creating a token: the only time the secret itself is shown. */
export interface CreatedEnrollmentToken extends EnrollmentTokenSummary {
  /** `cset_` + 32 random bytes in base64url. Hand it to the hospital; the coordinator keeps only its sha256. */
  token: string;
}

/** `POST /api/v1/sites/enroll` (no token needed; the enrollment token is the credential). */
export const EnrollSiteRequestSchema = z.strictObject({
  enrollmentToken: z
    .string()
    .regex(/^cset_[A-Za-z0-9_-]{20,100}$/, { error: 'must be an enrollment token (cset_…)' }),
  /** Unique across the federation. */
  siteName: name(200),
  publicJwk: SitePublicJwkSchema,
  agentVersion: z
    .string()
    .regex(/^[0-9A-Za-z.+-]{1,50}$/, { error: 'must be 1 to 50 of letters, digits and . + -' })
    .optional(),
});
export type EnrollSiteRequest = z.infer<typeof EnrollSiteRequestSchema>;
/** What the coordinator's pipe reads of an enrollment; its service then names a bad token or key itself. */
export const ENROLL_SITE_SERVICE_CHECKED = {
  enrollmentToken: z.string().min(1).max(200),
  publicJwk: anyObject,
} as const;

export interface EnrollSiteResponse {
  siteId: string;
  status: 'pending';
  /**
   * RFC 7638 thumbprint of the key (sha256, base64url): also the `kid` of the site's assertions. The hospital
   * reads it to the admin out of band; the admin types it into the approval.
   */
  keyFingerprint: string;
}

// --- Site authentication and keys ---------------------------------------------------------------------------

/**
 * `POST /api/v1/auth/site-token`: `assertion` is a compact JWS, header `{alg:'EdDSA', kid:<key fingerprint>}`,
 * claims `{iss: siteId, sub: siteId, aud: SITE_TOKEN_AUDIENCE, jti, iat, exp}` with `exp − iat` ≤ 300 s and a
 * fresh `jti` every time. Answered with an {@link AccessTokenResponse}.
 */
export const SiteTokenRequestSchema = z.strictObject({ assertion: compactJws(MAX_SITE_JWS_LENGTH) });
export type SiteTokenRequest = z.infer<typeof SiteTokenRequestSchema>;
export const SITE_TOKEN_SERVICE_CHECKED = { assertion: anyJws } as const;

/** The claims of a site assertion (the payload of `assertion`). */
export const SiteAssertionClaimsSchema = z.strictObject({
  iss: uuid,
  sub: uuid,
  aud: z.literal(SITE_TOKEN_AUDIENCE),
  jti,
  iat: epochSeconds,
  exp: epochSeconds,
});

/**
 * `POST /api/v1/sites/me/keys` (site token): `proof` is a compact JWS signed by the NEW private key,
 * header `{alg:'EdDSA'}`, claims `{sub: siteId, aud: KEY_ROTATION_AUDIENCE, jti, iat, exp}` (≤ 300 s).
 */
export const RotateSiteKeyRequestSchema = z.strictObject({
  publicJwk: SitePublicJwkSchema,
  proof: compactJws(MAX_SITE_JWS_LENGTH),
});
export type RotateSiteKeyRequest = z.infer<typeof RotateSiteKeyRequestSchema>;
export const ROTATE_SITE_KEY_SERVICE_CHECKED = { publicJwk: anyObject, proof: anyJws } as const;

/** The claims of a key-rotation proof (the payload of `proof`). */
export const KeyRotationProofClaimsSchema = z.strictObject({
  sub: uuid,
  aud: z.literal(KEY_ROTATION_AUDIENCE),
  jti,
  iat: epochSeconds,
  exp: epochSeconds,
});

export type SiteStatusName = 'pending' | 'approved' | 'rejected' | 'revoked';
export const SITE_STATUSES: readonly SiteStatusName[] = ['pending', 'approved', 'rejected', 'revoked'];

/** `GET /api/v1/sites?status=` */
export const ListSitesQuerySchema = z.strictObject({
  status: z.enum(['pending', 'approved', 'rejected', 'revoked']).optional(),
});
export type ListSitesQuery = z.infer<typeof ListSitesQuerySchema>;
export type SiteKeyStatusName = 'active' | 'rotated' | 'revoked';

export interface SiteKeySummary {
  id: string;
  fingerprint: string;
  status: SiteKeyStatusName;
  createdAt: string;
  /** For a rotated key: when it stops working. */
  notAfter: string | null;
  rotatedAt: string | null;
  revokedAt: string | null;
}

/** `POST /api/v1/sites/me/keys` answer: the new key, and the previous one with the end of its grace period. */
export interface RotateSiteKeyResponse {
  key: SiteKeySummary;
  previousKey: SiteKeySummary;
}

export interface SitePresenceSummary {
  lastSeenAt: string | null;
  lastSeenAddress: string | null;
  agentVersion: string | null;
  protocolVersion: string | null;
  /** The router bundle the site last reported running (null: none, or not reported yet). */
  bundleVersion: number | null;
  bundleReportedAt: string | null;
}

/** A site as admins (`GET /api/v1/sites`, `GET /api/v1/sites/:id`) and the site itself (`GET /api/v1/sites/me`) see it. */
export interface SiteSummary {
  id: string;
  name: string;
  status: SiteStatusName;
  /** Why it was rejected or revoked. */
  statusReason: string | null;
  decidedById: string | null;
  decidedAt: string | null;
  createdAt: string;
  presence: SitePresenceSummary;
  /** When an admin asked the site to rotate its key, until it does; null otherwise. */
  keyRotationRequestedAt: string | null;
  /** Newest first. */
  keys: SiteKeySummary[];
}

/** `POST /api/v1/sites/:id/approve`: the fingerprint the admin verified with the hospital out of band. */
export const ApproveSiteRequestSchema = z.strictObject({
  keyFingerprint: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be a key fingerprint (43 base64url characters)' }),
});
export type ApproveSiteRequest = z.infer<typeof ApproveSiteRequestSchema>;
/** A mistyped fingerprint is the service's `fingerprint_mismatch`, which says what the key's really is. */
export const APPROVE_SITE_SERVICE_CHECKED = { keyFingerprint: z.string().min(1).max(100) } as const;

/** Longest reason an admin gives for a decision. */
export const MAX_REASON_LENGTH = 2000;

/** `POST /api/v1/sites/:id/reject`, `…/revoke`, `…/keys/:keyId/revoke`, tasks' and adapters' reject/retire */
export const ReasonRequestSchema = z.strictObject({
  /** Kept with what was decided (and in the audit log). */
  reason: reason(MAX_REASON_LENGTH),
});
export type ReasonRequest = z.infer<typeof ReasonRequestSchema>;

/**
 * Stable error codes of identity and access (in `error.code`; see docs/coordinator.md, "Identity and access").
 * Besides these, any request can get `validation_failed` (400), `missing_token`, `invalid_token`,
 * `token_expired` (401) and `forbidden` (403).
 */
export const AUTH_ERROR_CODES = [
  // admin login and accounts
  'invalid_credentials',
  'account_disabled',
  'rate_limited',
  'admin_not_found',
  'admin_email_taken',
  'admin_already_disabled',
  'cannot_disable_self',
  'weak_password',
  'invalid_email',
  // enrollment tokens and enrollment
  'enrollment_token_invalid',
  'enrollment_token_expired',
  'enrollment_token_used',
  'enrollment_token_revoked',
  'enrollment_token_not_found',
  'private_key_sent',
  'unsupported_key',
  'invalid_key',
  'key_already_registered',
  'site_name_taken',
  // admin decisions
  'site_not_found',
  'site_not_pending',
  'site_not_revocable',
  'fingerprint_mismatch',
  'site_key_not_found',
  'key_already_revoked',
  // site authentication
  'assertion_invalid',
  'assertion_expired',
  'assertion_wrong_audience',
  'assertion_replayed',
  'unknown_key',
  'credentials_revoked',
  'site_not_approved',
  // key rotation
  'proof_invalid',
  'proof_expired',
  'proof_wrong_audience',
  'proof_replayed',
  'key_not_active',
] as const;

export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];
