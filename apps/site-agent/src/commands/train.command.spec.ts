import { describe, expect, it } from 'vitest';
import { DEFAULT_AL_EPOCHS, DEFAULT_AL_LR, DEFAULT_PRESET, DEFAULT_VAE_OPTIONS } from '@casam/casam-core';
import { agentCli } from '../testing/agent-cli.testing';
import { trainCommand } from './train.command';

describe('site-agent train --help (real CLI process)', () => {
  it("states the trainer's defaults, taken from the trainer itself, and documents every option", async () => {
    const r = await agentCli('', ['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`--epochs <n> +Alignment Layer epochs \\(default ${DEFAULT_AL_EPOCHS};`),
    );
    expect(r.stdout).toContain(`${DEFAULT_PRESET} ${DEFAULT_AL_LR[DEFAULT_PRESET]}`);
    expect(r.stdout).toMatch(
      new RegExp(
        `--vae-epochs <n> +VAE epochs \\(default ${DEFAULT_VAE_OPTIONS.epochs}; more on small data, at least ${DEFAULT_VAE_OPTIONS.minSteps} steps;`,
      ),
    );
    expect(r.stdout).toMatch(/--seed <n> .*\(default 0\)/);
    expect(r.stdout).toMatch(/--max-images <n> .*\(default: all/);
    for (const name of Object.keys(trainCommand.options)) expect(r.stdout).toContain(`--${name}`);
  });
});
