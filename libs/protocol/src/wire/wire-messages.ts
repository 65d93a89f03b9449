/**
 * Every message of the coordinator's API, each written once: method, path and its parameters, query, body
 * (with its limits) and the claims inside any signed field. The coordinator validates requests and builds its
 * OpenAPI document from these, the site agent's egress allowlist is a subset of them, and a spec checks that
 * the coordinator serves exactly these routes.
 */
import { AuditQuerySchema } from '../audit';
import {
  APPROVE_SITE_SERVICE_CHECKED,
  ApproveSiteRequestSchema,
  CreateAdminRequestSchema,
  CreateEnrollmentTokenRequestSchema,
  ENROLL_SITE_SERVICE_CHECKED,
  EnrollSiteRequestSchema,
  KeyRotationProofClaimsSchema,
  ListSitesQuerySchema,
  LoginRequestSchema,
  ROTATE_SITE_KEY_SERVICE_CHECKED,
  ReasonRequestSchema,
  RotateSiteKeyRequestSchema,
  SITE_TOKEN_SERVICE_CHECKED,
  SiteAssertionClaimsSchema,
  SiteTokenRequestSchema,
} from '../auth';
import {
  AdapterDecisionRequestSchema,
  AdapterUploadSignatureClaimsSchema,
  COMPLETE_UPLOAD_SERVICE_CHECKED,
  CREATE_UPLOAD_SERVICE_CHECKED,
  CompleteUploadRequestSchema,
  CreateUploadRequestSchema,
} from '../adapter-uploads';
import { ListBundlesQuerySchema } from '../bundle';
import { RealtimeAuthSchema, SiteStatusReportSchema, TrainingProgressSchema } from '../realtime';
import {
  AddTaskContributorRequestSchema,
  ListTasksQuerySchema,
  PROPOSE_TASK_SERVICE_CHECKED,
  ProposeTaskRequestSchema,
  TaskDecisionRequestSchema,
} from '../tasks';
import { httpMessage, socketMessage } from './wire-message';

const get = (path: string, summary: string, params?: Record<string, 'uuid' | 'bundleVersion'>) =>
  httpMessage({ method: 'GET', path, params, body: 'none', summary });
/** A POST that carries no body (approve, disable, revoke a token…). */
const act = (path: string, summary: string, params: Record<string, 'uuid'>) =>
  httpMessage({ method: 'POST', path, params, body: 'none', summary });
const ID = { id: 'uuid' } as const;

export const HTTP_MESSAGES = {
  // --- Health and public keys -------------------------------------------------------------------------
  health: get('/healthz', 'Liveness: the process answers (no dependency checked).'),
  readiness: get('/readyz', 'Readiness: 200 when the database and the blob store answer, else 503.'),
  metrics: get('/metrics', 'Prometheus metrics (text exposition format).'),
  jwks: get('/.well-known/jwks.json', 'Public keys that sign router bundles (pending, active, retired).'),
  key_endorsements: get(
    '/.well-known/casam-key-endorsements.json',
    'Each bundle-signing key after the first, endorsed by the key before it.',
  ),

  // --- Admin sign-in and accounts ---------------------------------------------------------------------
  login: httpMessage({
    method: 'POST',
    path: '/api/v1/auth/login',
    body: LoginRequestSchema,
    summary: 'An admin signs in with email and password and gets an access token.',
  }),
  me: get('/api/v1/auth/me', 'The admin the token belongs to.'),
  list_admins: get('/api/v1/admins', 'Admin accounts.'),
  create_admin: httpMessage({
    method: 'POST',
    path: '/api/v1/admins',
    body: CreateAdminRequestSchema,
    summary: 'Creates an admin account.',
  }),
  disable_admin: act(
    '/api/v1/admins/:id/disable',
    'Disables an admin account (its tokens stop working).',
    ID,
  ),

  // --- Enrollment -------------------------------------------------------------------------------------
  create_enrollment_token: httpMessage({
    method: 'POST',
    path: '/api/v1/enrollment-tokens',
    body: CreateEnrollmentTokenRequestSchema,
    summary: 'Creates a one-time enrollment token for a hospital (the secret is shown only here).',
  }),
  list_enrollment_tokens: get('/api/v1/enrollment-tokens', 'Enrollment tokens and their state.'),
  revoke_enrollment_token: act(
    '/api/v1/enrollment-tokens/:id/revoke',
    'Revokes an unused enrollment token.',
    ID,
  ),
  enroll: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/enroll',
    body: EnrollSiteRequestSchema,
    serviceChecked: ENROLL_SITE_SERVICE_CHECKED,
    summary: 'A site enrolls with an enrollment token and its public key; an admin then approves it.',
  }),

  // --- Sites and their keys ---------------------------------------------------------------------------
  site_token: httpMessage({
    method: 'POST',
    path: '/api/v1/auth/site-token',
    body: SiteTokenRequestSchema,
    serviceChecked: SITE_TOKEN_SERVICE_CHECKED,
    jws: { assertion: SiteAssertionClaimsSchema },
    summary: 'A site exchanges an assertion signed with its key for a short-lived access token.',
  }),
  list_sites: httpMessage({
    method: 'GET',
    path: '/api/v1/sites',
    query: ListSitesQuerySchema,
    body: 'none',
    summary: 'Sites, optionally of one status.',
  }),
  read_site: get('/api/v1/sites/me', 'The calling site as the coordinator knows it.'),
  key_rotation: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/me/keys',
    body: RotateSiteKeyRequestSchema,
    serviceChecked: ROTATE_SITE_KEY_SERVICE_CHECKED,
    jws: { proof: KeyRotationProofClaimsSchema },
    summary:
      'A site registers a new key, proving it holds the private part; the old one gets a grace period.',
  }),
  get_site: get('/api/v1/sites/:id', 'One site.', ID),
  approve_site: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/:id/approve',
    params: ID,
    body: ApproveSiteRequestSchema,
    serviceChecked: APPROVE_SITE_SERVICE_CHECKED,
    summary: 'Approves a pending site whose key fingerprint the admin verified out of band.',
  }),
  reject_site: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/:id/reject',
    params: ID,
    body: ReasonRequestSchema,
    summary: 'Rejects a pending site.',
  }),
  revoke_site: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/:id/revoke',
    params: ID,
    body: ReasonRequestSchema,
    summary: 'Revokes an approved site: its tokens and keys stop working.',
  }),
  request_key_rotation: act('/api/v1/sites/:id/key-rotation-request', 'Asks a site to rotate its key.', ID),
  revoke_site_key: httpMessage({
    method: 'POST',
    path: '/api/v1/sites/:id/keys/:keyId/revoke',
    params: { id: 'uuid', keyId: 'uuid' },
    body: ReasonRequestSchema,
    summary: "Revokes one of a site's keys.",
  }),

  // --- Bundle-signing keys ----------------------------------------------------------------------------
  list_signing_keys: get('/api/v1/signing-keys', 'Bundle-signing keys.'),
  rotate_signing_key: httpMessage({
    method: 'POST',
    path: '/api/v1/signing-keys/rotate',
    body: 'none',
    summary: 'Adds a pending bundle-signing key, or activates the pending one.',
  }),

  // --- Tasks ------------------------------------------------------------------------------------------
  propose_task: httpMessage({
    method: 'POST',
    path: '/api/v1/tasks',
    body: ProposeTaskRequestSchema,
    serviceChecked: PROPOSE_TASK_SERVICE_CHECKED,
    summary: 'A site proposes a segmentation task for a base model.',
  }),
  list_tasks: httpMessage({
    method: 'GET',
    path: '/api/v1/tasks',
    query: ListTasksQuerySchema,
    body: 'none',
    summary: 'Tasks the caller may see, optionally of one status.',
  }),
  get_task: get('/api/v1/tasks/:id', 'One task.', ID),
  approve_task: act('/api/v1/tasks/:id/approve', 'Approves a proposed task.', ID),
  reject_task: httpMessage({
    method: 'POST',
    path: '/api/v1/tasks/:id/reject',
    params: ID,
    body: TaskDecisionRequestSchema,
    summary: 'Rejects a proposed task.',
  }),
  retire_task: httpMessage({
    method: 'POST',
    path: '/api/v1/tasks/:id/retire',
    params: ID,
    body: TaskDecisionRequestSchema,
    summary: 'Retires a task: the next bundle leaves it out.',
  }),
  add_task_contributor: httpMessage({
    method: 'POST',
    path: '/api/v1/tasks/:id/contributors',
    params: ID,
    body: AddTaskContributorRequestSchema,
    summary: 'Lets another approved site upload adapters for a task.',
  }),
  remove_task_contributor: httpMessage({
    method: 'DELETE',
    path: '/api/v1/tasks/:id/contributors/:siteId',
    params: { id: 'uuid', siteId: 'uuid' },
    body: 'none',
    summary: 'Removes a contributor from a task.',
  }),

  // --- Adapter uploads --------------------------------------------------------------------------------
  upload_create: httpMessage({
    method: 'POST',
    path: '/api/v1/uploads',
    body: CreateUploadRequestSchema,
    serviceChecked: CREATE_UPLOAD_SERVICE_CHECKED,
    summary: 'A site opens a chunked, resumable upload of an adapter file.',
  }),
  read_upload: get('/api/v1/uploads/:id', 'An upload and the chunks the coordinator holds.', ID),
  upload_chunk: httpMessage({
    method: 'PUT',
    path: '/api/v1/uploads/:id/chunks/:index',
    params: { id: 'uuid', index: 'chunkIndex' },
    body: 'bytes',
    summary:
      'One chunk, raw bytes with their sha256 in x-casam-chunk-sha256 (201 stored, 200 already there).',
  }),
  upload_complete: httpMessage({
    method: 'POST',
    path: '/api/v1/uploads/:id/complete',
    params: ID,
    body: CompleteUploadRequestSchema,
    serviceChecked: COMPLETE_UPLOAD_SERVICE_CHECKED,
    jws: { signature: AdapterUploadSignatureClaimsSchema },
    summary: 'Completes an upload with the site key signature: a pending adapter version, or a refusal.',
  }),

  // --- Adapter versions -------------------------------------------------------------------------------
  list_task_adapters: get('/api/v1/tasks/:id/adapters', "A task's adapter versions.", ID),
  get_adapter: get('/api/v1/adapters/:id', 'One adapter version.', ID),
  adapter_file: get('/api/v1/adapters/:id/file', 'The adapter file as uploaded (ETag: its sha256).', ID),
  approve_adapter: act('/api/v1/adapters/:id/approve', 'Approves a pending adapter version.', ID),
  reject_adapter: httpMessage({
    method: 'POST',
    path: '/api/v1/adapters/:id/reject',
    params: ID,
    body: AdapterDecisionRequestSchema,
    summary: 'Rejects a pending adapter version.',
  }),

  // --- Router bundles ---------------------------------------------------------------------------------
  list_bundles: httpMessage({
    method: 'GET',
    path: '/api/v1/bundles',
    query: ListBundlesQuerySchema,
    body: 'none',
    summary: 'Published router bundles, newest first.',
  }),
  latest_bundle: get('/api/v1/bundles/latest', 'The newest published bundle with its manifest.'),
  get_bundle: get('/api/v1/bundles/:version', 'One published bundle with its manifest.', {
    version: 'bundleVersion',
  }),
  bundle_archive: get('/api/v1/bundles/:version/archive', "A bundle's archive (ETag: its sha256).", {
    version: 'bundleVersion',
  }),

  // --- Audit ------------------------------------------------------------------------------------------
  list_audit_events: httpMessage({
    method: 'GET',
    path: '/api/v1/audit-events',
    query: AuditQuerySchema,
    body: 'none',
    summary: 'The audit log, newest first, paged by cursor.',
  }),
} as const;

export type HttpMessageName = keyof typeof HTTP_MESSAGES;

/** What sites send on the real-time channel. */
export const SOCKET_MESSAGES = {
  socket_connect: socketMessage({ event: 'connect', body: RealtimeAuthSchema }),
  socket_training_progress: socketMessage({ event: 'training.progress', body: TrainingProgressSchema }),
  socket_site_status: socketMessage({ event: 'site.status', body: SiteStatusReportSchema }),
} as const;

export type SocketMessageName = keyof typeof SOCKET_MESSAGES;
