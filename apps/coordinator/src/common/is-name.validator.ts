import { ValidateBy, type ValidationOptions } from 'class-validator';
import { nameProblem } from '@casam/protocol';

/**
 * A name (site, task, modality, target structure): 1 to `maxLength` characters of one-line printable text, not
 * blank — the one rule of `nameProblem` in libs/protocol, so control characters, C1 controls and bidi
 * overrides never reach a log line, a terminal or the admin UI. With `{each: true}` for arrays of names.
 */
export function IsName(maxLength: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: IS_NAME,
      constraints: [maxLength],
      validator: {
        validate: (value: unknown) => nameProblem(value, maxLength) === null,
        defaultMessage: (args) => {
          const values: unknown[] = Array.isArray(args?.value) && options?.each ? args.value : [args?.value];
          const problem = values.map((v) => nameProblem(v, maxLength)).find((p) => p !== null);
          return `$property ${problem ?? 'must be a name'}`;
        },
      },
    },
    options,
  );
}

export const IS_NAME = 'isName';

/**
 * The same rule as JSON Schema, for the OpenAPI document (class-validator-jsonschema converter of
 * {@link IsName}): a string of 1 to maxLength characters, not blank, none of the characters names may not
 * hold. (An unpaired surrogate, which no pattern can name, is refused for every string by the validation pipe.)
 */
export function isNameJsonSchema(meta: { constraints?: unknown[] }): Record<string, unknown> {
  return {
    type: 'string',
    minLength: 1,
    maxLength: meta.constraints?.[0],
    pattern:
      '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029]*$',
    description: 'one line of printable text: no control, bidirectional-control or line-separator characters',
  };
}
