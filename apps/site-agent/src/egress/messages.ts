/**
 * The complete list of what a site agent may send to its coordinator, as names of the wire messages in
 * libs/protocol (method, path, body schema with its limits, claims inside every JWS: written once there).
 * Anything not listed here is refused by the egress gateway before it leaves the process. Reads (GET) carry no
 * body and only typed ids in their paths; writes carry JSON of an exact shape; the only bytes that ever leave
 * are chunks of an adapter file that passed the adapter validator (weights, τ statistics and aggregate metrics
 * — no pixels can ride along).
 */
import {
  HTTP_MESSAGES,
  type HttpMessage,
  type HttpMessageName,
  SOCKET_MESSAGES,
  type SocketMessageName,
} from '@casam/protocol';

/** Each kind of outbound request and the protocol messages (routes) it may be. */
export const EGRESS_ALLOWLIST = {
  enroll: ['enroll'],
  site_token: ['site_token'],
  key_rotation: ['key_rotation'],
  propose_task: ['propose_task'],
  upload_create: ['upload_create'],
  upload_chunk: ['upload_chunk'],
  upload_complete: ['upload_complete'],
  read_upload: ['read_upload'],
  read_site: ['read_site'],
  read_tasks: ['list_tasks', 'get_task'],
  read_bundle: ['list_bundles', 'latest_bundle', 'get_bundle', 'bundle_archive'],
  read_jwks: ['jwks', 'key_endorsements'],
  read_health: ['health'],
} as const satisfies Record<string, readonly HttpMessageName[]>;

/** What the agent emits on the real-time channel (the handshake's `auth` too). */
export const SOCKET_ALLOWLIST = [
  'socket_connect',
  'socket_training_progress',
  'socket_site_status',
] as const satisfies readonly SocketMessageName[];

export type HttpMessageType = keyof typeof EGRESS_ALLOWLIST;
export type SocketMessageType = (typeof SOCKET_ALLOWLIST)[number];

/** The protocol messages a request of `type` may be. */
export function egressMessages(type: HttpMessageType): readonly HttpMessage[] {
  return EGRESS_ALLOWLIST[type].map((name) => HTTP_MESSAGES[name]);
}

export const socketMessageSpec = (type: SocketMessageType) => SOCKET_MESSAGES[type];

/** A write's one message (writes are one route each), for its body type. */
export type EgressWrite<T extends HttpMessageType> = (typeof HTTP_MESSAGES)[(typeof EGRESS_ALLOWLIST)[T][0]];
