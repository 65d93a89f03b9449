/**
 * Field rules that several wire messages share, written once: ids, hashes, names, reasons, signed tokens,
 * public keys. Each carries its own words for a refusal (read after the field's name) and, where a check has
 * no JSON Schema form, the JSON Schema keywords that describe it (`.meta`), so the OpenAPI document states
 * the same rule the coordinator enforces.
 */
import { z } from 'zod';
import { nameProblem } from '../text';

/** Source of an id's pattern (any UUID version, either case, as the coordinator's database stores them). */
export const UUID_PATTERN = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** An id the coordinator made (a site, task, upload, key…). */
export const uuid = z
  .string()
  .regex(new RegExp(`^${UUID_PATTERN}$`), { error: 'must be an id (UUID)' })
  .meta({ format: 'uuid' });

/** sha256 of bytes, 64 lower-case hex digits. */
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lower-case hex digits' });

/** `sha256:` and 64 lower-case hex digits: how base models are fingerprinted. */
export const baseModelFingerprint = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be "sha256:" and 64 lower-case hex digits' });

/** An identifier inside an adapter file or a preset name: letters, digits and . _ : - */
export const identifier = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, {
      error: 'may hold only letters, digits and . _ : - (starting with a letter or digit)',
    });

/**
 * The characters a name may not hold, as a JSON Schema pattern (see `nameProblem` in text.ts; an unpaired
 * surrogate, which no pattern can name, is refused for every string by the coordinator).
 */
const NAME_JSON_PATTERN =
  '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029]*$';

/**
 * A name (site, task, modality, target structure): 1 to `max` characters of one-line printable text, not
 * blank — `nameProblem`'s rule, so control characters and bidi overrides never reach a log line, a terminal
 * or the admin UI.
 */
export const name = (max: number) =>
  z
    .string()
    .check((ctx) => {
      const problem = nameProblem(ctx.value, max);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    })
    .meta({
      minLength: 1,
      maxLength: max,
      pattern: NAME_JSON_PATTERN,
      description:
        'one line of printable text: no control, bidirectional-control or line-separator characters',
    });

/** Why an admin decided as they did: 1 to `max` characters, not blank; kept in the audit log. */
export const reason = (max: number) => z.string().min(1).max(max).regex(/\S/, { error: 'must not be blank' });

/** Compact JWS: three base64url parts. */
export const compactJws = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{40,200}$/, {
      error: 'must be a compact JWS (header.payload.signature, base64url)',
    });

/** A site's public key: an Ed25519 OKP JWK (RFC 8037), nothing else (no private part, no extra members). */
export const sitePublicJwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  /** The 32-byte public key, base64url without padding. */
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be 32 bytes in base64url (43 characters)' }),
});

/** A JWS's `jti`: a fresh random id per signature. */
export const jti = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,200}$/, { error: 'must be 1 to 200 base64url characters' });

/** Seconds since the epoch (`iat`, `exp`). */
export const epochSeconds = z
  .int()
  .min(0)
  .max(2 ** 40);

/** A release version, MAJOR.MINOR.PATCH with an optional -prerelease. */
export const releaseVersion = z
  .string()
  .max(50)
  .regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, { error: 'must be a version MAJOR.MINOR.PATCH[-prerelease]' });

/** A positive integer that fits Postgres `int`. */
export const positiveInt32 = z.int().min(1).max(2_147_483_647);

/** A metric name in a report or an adapter file. */
export const metricName = z
  .string()
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, { error: 'must be an identifier (letters, digits, _ . -)' });

/** A query-string integer (`?limit=20`): digits only, then a number. */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, { error: 'must be an integer' })
    .transform(Number)
    .pipe(z.int().min(min).max(max))
    .meta({ type: 'integer', minimum: min, maximum: max });
