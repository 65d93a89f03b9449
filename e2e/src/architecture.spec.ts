import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// The folder layout is the architecture; this proves the lint rules that guard it really block, and block for
// the right reason: each forbidden import below must be refused by the tag rule's own message, not by a circular
// dependency or Nx's built-in "no app imports" check, so loosening `depConstraints` turns this red.
const root = resolve(__dirname, '../..');

async function lintMessages(file: string, code: string, ruleId: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [res] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return res.messages.filter((m) => m.ruleId === ruleId).map((m) => m.message);
}

const boundaryErrors = (file: string, code: string) =>
  lintMessages(file, code, '@nx/enforce-module-boundaries');

/** The message of the tag rule (depConstraints) for a project with `tag`. */
const tagRule = (tag: string) =>
  new RegExp(`project tagged with "${tag}" can only depend on libs tagged with`);

const importing = (pkg: string) => `import * as m from '${pkg}';\nexport const y = m;\n`;

interface Constraint {
  sourceTag: string;
  onlyDependOnLibsWithTags: string[];
}

/** depConstraints as ESLint resolves them for one file. */
async function constraintsFor(file: string): Promise<Constraint[]> {
  const eslint = new ESLint({ cwd: root });
  const config = (await eslint.calculateConfigForFile(resolve(root, file))) as {
    rules: Record<string, [unknown, { depConstraints: Constraint[] }]>;
  };
  return config.rules['@nx/enforce-module-boundaries'][1].depConstraints;
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

  it('forbids an app from importing the lab, by the tag rule', async () => {
    const errs = await boundaryErrors('apps/site-agent/src/probe.ts', importing('@casam/casam-lab'));
    expect(errs.join('\n')).toMatch(tagRule('type:app'));
  });

  it("lets an app's tests use the lab's synthetic data", async () => {
    expect(await boundaryErrors('apps/site-agent/src/probe.spec.ts', importing('@casam/casam-lab'))).toEqual(
      [],
    );
  });

  it('forbids the DICOM library from importing casam-core, by the tag rule', async () => {
    const errs = await boundaryErrors('libs/dicom/src/probe.ts', importing('@casam/casam-core'));
    expect(errs.join('\n')).toMatch(/project tagged with "type:io" cannot depend on any libs with tags/);
  });

  it('forbids the lab and an app from importing an app', async () => {
    expect(await boundaryErrors('libs/casam-lab/src/probe.ts', importing('@casam/coordinator'))).not.toEqual(
      [],
    );
    expect(await boundaryErrors('apps/site-agent/src/probe.ts', importing('@casam/coordinator'))).not.toEqual(
      [],
    );
  });

  // These imports would also close a cycle (the importee already depends on the importer), so Nx reports the
  // cycle first; the tag rule itself is checked in the resolved configuration.
  it('forbids protocol and casam-core from importing upward (cycle reported, tag rule configured)', async () => {
    expect(await boundaryErrors('libs/protocol/src/probe.ts', importing('@casam/casam-core'))).not.toEqual(
      [],
    );
    expect(await boundaryErrors('libs/casam-core/src/probe.ts', importing('@casam/casam-lab'))).not.toEqual(
      [],
    );
    expect(await boundaryErrors('libs/casam-core/src/probe.ts', importing('@casam/coordinator'))).not.toEqual(
      [],
    );
    const allowed = Object.fromEntries(
      (await constraintsFor('libs/casam-core/src/probe.ts')).map((c) => [
        c.sourceTag,
        c.onlyDependOnLibsWithTags,
      ]),
    );
    expect(allowed['type:protocol']).toEqual([]);
    expect(allowed['type:io']).toEqual([]);
    expect(allowed['type:ml']).toEqual(['type:protocol']);
    expect(allowed['type:lab']).toEqual(['type:protocol', 'type:ml']);
    expect(allowed['type:app']).toEqual(['type:protocol', 'type:io', 'type:ml']);
  });

  it('forbids deep imports into a package', async () => {
    const errs = await lintMessages(
      'apps/site-agent/src/probe.ts',
      "import { writeFileAtomic } from '@casam/casam-core/src/io/atomic-file';\nexport const w = writeFileAtomic;\n",
      'no-restricted-imports',
    );
    expect(errs.join('\n')).toMatch(/package entry point/);
  });

  it('allows casam-core to import protocol, the lab both libs, and apps both product libs', async () => {
    expect(await boundaryErrors('libs/casam-core/src/probe.ts', importing('@casam/protocol'))).toEqual([]);
    expect(
      await boundaryErrors(
        'libs/casam-lab/src/probe.ts',
        `${importing('@casam/protocol')}import * as core from '@casam/casam-core';\nexport const c = core;\n`,
      ),
    ).toEqual([]);
    expect(
      await boundaryErrors(
        'apps/site-agent/src/probe.ts',
        `${importing('@casam/protocol')}import * as core from '@casam/casam-core';\nexport const c = core;\n`,
      ),
    ).toEqual([]);
  });
});
