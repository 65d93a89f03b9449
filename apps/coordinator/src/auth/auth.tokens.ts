/** Injection token of the coordinator's root secret (a Uint8Array, see coordinator-secret.ts). */
export const COORDINATOR_SECRET = Symbol('COORDINATOR_SECRET');
