/**
 * The complete list of what a site agent may send to its coordinator. Anything not described here is refused
 * by the egress gateway before it leaves the process. Reads (GET) carry no body and only ids in their paths;
 * writes carry JSON of an exact shape; the only bytes that ever leave are chunks of an adapter file that passed
 * the adapter validator (weights, τ statistics and aggregate metrics — no pixels can ride along).
 */
import { KEY_ROTATION_AUDIENCE, SITE_TOKEN_AUDIENCE } from '@casam/protocol';
import { arr, int, lit, nullable, num, obj, type Schema, str } from './schema';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const U = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A human label typed by hospital IT: one line, printable. */
const LABEL = /^[^\u0000-\u001f\u007f]{1,200}$/;
const JTI = /^[A-Za-z0-9_-]{1,200}$/;
const JWS = /^[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{40,200}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
const IDENT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const publicJwk = obj({ kty: lit('OKP'), crv: lit('Ed25519'), x: str(43, /^[A-Za-z0-9_-]{43}$/) });

/** Claims a signed token may carry, per kind; the payload of every JWS is checked against one of these. */
export const JWS_CLAIMS = {
  siteAssertion: obj({
    iss: str(36, UUID),
    sub: str(36, UUID),
    aud: lit(SITE_TOKEN_AUDIENCE),
    jti: str(200, JTI),
    iat: int(0, 2 ** 40),
    exp: int(0, 2 ** 40),
  }),
  rotationProof: obj({
    sub: str(36, UUID),
    aud: lit(KEY_ROTATION_AUDIENCE),
    jti: str(200, JTI),
    iat: int(0, 2 ** 40),
    exp: int(0, 2 ** 40),
  }),
  uploadSignature: obj({
    uploadId: str(36, UUID),
    taskId: str(36, UUID),
    sha256: str(64, SHA256_HEX),
    size: int(1, 2 ** 40),
    sub: str(36, UUID),
    aud: str(100, /^casam-coordinator\/adapter-upload$/),
    jti: str(200, JTI),
    iat: int(0, 2 ** 40),
    exp: int(0, 2 ** 40),
  }),
} satisfies Record<string, Schema>;

export type JwsKind = keyof typeof JWS_CLAIMS;

export interface MessageSpec {
  method: 'GET' | 'POST' | 'PUT';
  /** Anchored pattern of the path (query string included when one is allowed). */
  path: RegExp;
  /** `none` for reads; a JSON schema; or `adapter-chunk` for the bytes of a registered adapter upload. */
  body: 'none' | Schema | 'adapter-chunk';
  /** JSON string fields holding compact JWS, and which claim schema their payload must match. */
  jws?: Record<string, JwsKind>;
  /** Socket.io events instead of HTTP requests. */
  socket?: false;
}

export interface SocketMessageSpec {
  socket: true;
  event: string;
  body: Schema;
}

export const MESSAGES = {
  enroll: {
    method: 'POST',
    path: /^\/api\/v1\/sites\/enroll$/,
    body: obj(
      {
        enrollmentToken: str(200, /^cset_[A-Za-z0-9_-]{20,100}$/),
        siteName: str(200, LABEL),
        publicJwk,
        agentVersion: str(50, /^[0-9A-Za-z.+-]{1,50}$/),
      },
      ['agentVersion'],
    ),
  },
  site_token: {
    method: 'POST',
    path: /^\/api\/v1\/auth\/site-token$/,
    body: obj({ assertion: str(6300, JWS) }),
    jws: { assertion: 'siteAssertion' },
  },
  key_rotation: {
    method: 'POST',
    path: /^\/api\/v1\/sites\/me\/keys$/,
    body: obj({ publicJwk, proof: str(6300, JWS) }),
    jws: { proof: 'rotationProof' },
  },
  propose_task: {
    method: 'POST',
    path: /^\/api\/v1\/tasks$/,
    body: obj({
      name: str(200, LABEL),
      modality: str(50, LABEL),
      targetStructures: arr(str(100, LABEL), 32),
      baseModel: obj({ preset: str(128, IDENT), fingerprint: str(71, FINGERPRINT) }),
    }),
  },
  upload_create: {
    method: 'POST',
    path: /^\/api\/v1\/uploads$/,
    body: obj({
      taskId: str(36, UUID),
      totalSize: int(1, 1024 ** 3),
      sha256: str(64, SHA256_HEX),
      chunkSize: int(1, 64 * 1024 ** 2),
    }),
  },
  upload_chunk: {
    method: 'PUT',
    path: new RegExp(`^/api/v1/uploads/${U}/chunks/\\d{1,7}$`),
    body: 'adapter-chunk',
  },
  upload_complete: {
    method: 'POST',
    path: new RegExp(`^/api/v1/uploads/${U}/complete$`),
    body: obj({ signature: str(6300, JWS) }),
    jws: { signature: 'uploadSignature' },
  },
  read_upload: { method: 'GET', path: new RegExp(`^/api/v1/uploads/${U}$`), body: 'none' },
  read_site: { method: 'GET', path: /^\/api\/v1\/sites\/me$/, body: 'none' },
  read_tasks: {
    method: 'GET',
    path: new RegExp(`^/api/v1/tasks(\\?status=(proposed|approved|rejected|retired))?$|^/api/v1/tasks/${U}$`),
    body: 'none',
  },
  read_bundle: {
    method: 'GET',
    path: /^\/api\/v1\/bundles(\/latest|\/\d{1,9}|\/\d{1,9}\/archive)?$/,
    body: 'none',
  },
  read_jwks: {
    method: 'GET',
    path: /^\/\.well-known\/(jwks\.json|casam-key-endorsements\.json)$/,
    body: 'none',
  },
  read_health: { method: 'GET', path: /^\/healthz$/, body: 'none' },
  socket_connect: {
    socket: true,
    event: 'connect',
    body: obj({
      token: str(4000, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
      protocolVersion: str(20, /^\d+\.\d+\.\d+$/),
    }),
  },
  socket_training_progress: {
    socket: true,
    event: 'training.progress',
    body: obj(
      {
        taskId: str(36, UUID),
        stage: str(
          20,
          /^(queued|embedding|training_align|training_vae|calibrating|evaluating|uploading|done|failed)$/,
        ),
        epoch: int(0, 100000),
        epochs: int(0, 100000),
        loss: num(),
        metrics: { type: 'numberMap', maxKeys: 16, keyPattern: /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/ },
      },
      ['loss', 'metrics'],
    ),
  },
  socket_site_status: {
    socket: true,
    event: 'site.status',
    body: obj({
      agentVersion: str(50, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/),
      bundleVersion: nullable(int(1, 2_147_483_647)),
    }),
  },
} as const satisfies Record<string, MessageSpec | SocketMessageSpec>;

export type MessageType = keyof typeof MESSAGES;
export type HttpMessageType = {
  [K in MessageType]: (typeof MESSAGES)[K] extends { socket: true } ? never : K;
}[MessageType];
export type SocketMessageType = Exclude<MessageType, HttpMessageType>;
