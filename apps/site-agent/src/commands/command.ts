import { EXIT, UserError } from '../cli/errors';

export type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; default?: string | boolean };

/** Typed access to parsed flags with clear errors for missing required ones. */
export class OptionValues {
  constructor(private readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>) {}
  string(name: string, required: true): string;
  string(name: string, required?: false): string | undefined;
  string(name: string, required = false): string | undefined {
    const v = this.values[name];
    if (v === undefined || v === '') {
      if (required) throw new UserError(`missing required option --${name}`, EXIT.usage);
      return undefined;
    }
    return String(v);
  }
  strings(name: string): string[] {
    const v = this.values[name];
    return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String);
  }
  bool(name: string): boolean {
    return this.values[name] === true;
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  run(values: OptionValues, log: (line: string) => void): Promise<void>;
}
