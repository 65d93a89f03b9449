/**
 * A tiny, strict schema language for what may leave the site: exact object keys (unknown keys are refused),
 * bounded strings with patterns, bounded numbers and arrays. Small enough to read in one sitting, which is the
 * point: the whole outbound contract of the agent is the set of schemas in messages.ts.
 */
export type Schema =
  | { type: 'object'; props: Record<string, Schema>; optional?: readonly string[] }
  | { type: 'string'; max: number; pattern?: RegExp }
  | { type: 'number'; min?: number; max?: number; integer?: boolean }
  | { type: 'boolean' }
  | { type: 'array'; items: Schema; max: number }
  | { type: 'literal'; value: string | number | boolean }
  /** `null`, or a value of `inner`. */
  | { type: 'nullable'; inner: Schema }
  /** A string-keyed map of finite numbers (metrics). */
  | { type: 'numberMap'; maxKeys: number; keyPattern: RegExp };

export function obj(props: Record<string, Schema>, optional: readonly string[] = []): Schema {
  return { type: 'object', props, optional };
}
export const str = (max: number, pattern?: RegExp): Schema => ({ type: 'string', max, pattern });
export const int = (min: number, max: number): Schema => ({ type: 'number', min, max, integer: true });
export const num = (min?: number, max?: number): Schema => ({ type: 'number', min, max });
export const lit = (value: string | number | boolean): Schema => ({ type: 'literal', value });
export const arr = (items: Schema, max: number): Schema => ({ type: 'array', items, max });
export const nullable = (inner: Schema): Schema => ({ type: 'nullable', inner });

/** Every way `value` departs from `schema` (empty when it conforms). */
export function schemaProblems(value: unknown, schema: Schema, at = '$'): string[] {
  switch (schema.type) {
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        return [`${at}: must be an object`];
      const v = value as Record<string, unknown>;
      const out: string[] = [];
      for (const k of Object.keys(v))
        if (!(k in schema.props)) out.push(`${at}: field ${JSON.stringify(k.slice(0, 40))} is not allowed`);
      for (const [k, s] of Object.entries(schema.props)) {
        if (v[k] === undefined) {
          if (!schema.optional?.includes(k)) out.push(`${at}.${k}: missing`);
          continue;
        }
        out.push(...schemaProblems(v[k], s, `${at}.${k}`));
      }
      return out;
    }
    case 'string':
      if (typeof value !== 'string') return [`${at}: must be a string`];
      if (value.length > schema.max) return [`${at}: longer than ${schema.max} characters`];
      if (schema.pattern && !schema.pattern.test(value)) return [`${at}: does not match ${schema.pattern}`];
      return [];
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return [`${at}: must be a finite number`];
      if (schema.integer && !Number.isInteger(value)) return [`${at}: must be an integer`];
      if (schema.min !== undefined && value < schema.min) return [`${at}: below ${schema.min}`];
      if (schema.max !== undefined && value > schema.max) return [`${at}: above ${schema.max}`];
      return [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: must be a boolean`];
    case 'nullable':
      return value === null ? [] : schemaProblems(value, schema.inner, at);
    case 'literal':
      return value === schema.value ? [] : [`${at}: must be ${JSON.stringify(schema.value)}`];
    case 'array':
      if (!Array.isArray(value)) return [`${at}: must be an array`];
      if (value.length > schema.max) return [`${at}: more than ${schema.max} items`];
      return value.flatMap((x, i) => schemaProblems(x, schema.items, `${at}[${i}]`));
    case 'numberMap': {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        return [`${at}: must be an object`];
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > schema.maxKeys) return [`${at}: more than ${schema.maxKeys} entries`];
      return entries.flatMap(([k, x]) => [
        ...(schema.keyPattern.test(k) ? [] : [`${at}: key ${JSON.stringify(k.slice(0, 40))} is not allowed`]),
        ...(typeof x === 'number' && Number.isFinite(x) ? [] : [`${at}.${k}: must be a finite number`]),
      ]);
    }
  }
}
