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
      name: 'isName',
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
