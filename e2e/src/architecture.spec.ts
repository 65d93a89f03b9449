import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// The folder layout is the architecture; this proves the lint rule that guards it really blocks.
const root = resolve(__dirname, '../..');

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [res] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return res.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  beforeAll(() => {
    // The rule reads Nx's cached project graph; make sure it exists in a fresh clone.
    execFileSync('npx', ['nx', 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  }, 120_000);

  it('forbids libs/protocol from importing casam-core', async () => {
    const errs = await boundaryErrors(
      'libs/protocol/src/probe.ts',
      "import { x } from '@casam/casam-core';\nexport const y = x;\n",
    );
    expect(errs.length).toBeGreaterThan(0);
  });

  it('forbids casam-core from importing an app', async () => {
    const errs = await boundaryErrors(
      'libs/casam-core/src/probe.ts',
      "import { x } from '@casam/coordinator';\nexport const y = x;\n",
    );
    expect(errs.join('\n')).toMatch(/forbidden|can only depend|circular dependency/i);
  });

  it('forbids an app from importing another app', async () => {
    const errs = await boundaryErrors(
      'apps/site-agent/src/probe.ts',
      "import { x } from '@casam/coordinator';\nexport const y = x;\n",
    );
    expect(errs.length).toBeGreaterThan(0);
  });

  it('allows casam-core to import protocol and apps to import both libs', async () => {
    expect(
      await boundaryErrors(
        'libs/casam-core/src/probe.ts',
        "import { PROTOCOL_VERSION } from '@casam/protocol';\nexport const v = PROTOCOL_VERSION;\n",
      ),
    ).toEqual([]);
    expect(
      await boundaryErrors(
        'apps/site-agent/src/probe.ts',
        "import { PROTOCOL_VERSION } from '@casam/protocol';\nimport * as core from '@casam/casam-core';\nexport const v = [PROTOCOL_VERSION, core];\n",
      ),
    ).toEqual([]);
  });
});
