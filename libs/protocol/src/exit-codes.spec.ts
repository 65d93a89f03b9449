import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from './exit-codes';

const root = join(__dirname, '../../..');
const read = (file: string) => readFileSync(join(root, file), 'utf8').replace(/\s+/g, ' ');

describe('exit codes: one table for both CLIs and the scripts', () => {
  it('keeps the numbers operators and service managers rely on', () => {
    expect(EXIT_CODES).toEqual({
      ok: 0,
      internal: 1,
      usage: 2,
      input: 3,
      model: 4,
      database: 4,
      backend: 5,
      preflight: 6,
      interrupted: 130,
    });
  });

  it('is what the docs list', () => {
    const agent = read('docs/site-agent.md');
    for (const [code, words] of [
      [EXIT_CODES.ok, 'done'],
      [EXIT_CODES.internal, 'internal error'],
      [EXIT_CODES.usage, 'usage'],
      [EXIT_CODES.input, 'bad input'],
      [EXIT_CODES.model, 'model or checkpoint problem'],
      [EXIT_CODES.backend, 'backend unavailable'],
      [EXIT_CODES.preflight, 'a `preflight` check failed'],
      [EXIT_CODES.interrupted, 'interrupted'],
    ] as const)
      expect(agent, `site-agent ${code}`).toContain(`\`${code}\` ${words}`);
    const coordinator = read('docs/coordinator.md');
    for (const [code, words] of [
      [EXIT_CODES.ok, 'done'],
      [EXIT_CODES.internal, 'internal error'],
      [EXIT_CODES.usage, 'usage or configuration error'],
      [EXIT_CODES.input, 'input refused'],
      [EXIT_CODES.database, 'database problem'],
      [EXIT_CODES.preflight, 'a `preflight` check failed'],
    ] as const)
      expect(coordinator, `coordinator ${code}`).toContain(`\`${code}\` ${words}`);
  });
});
