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

/**
 * Nx's own refusals, which come before the tag rule and which no depConstraints setting loosens: importing an
 * application's files (apps, bench/ and scripts/ are Nx applications), and any other project by a relative path.
 */
const APP_IMPORT = /^Imports of apps are forbidden$/;
const RELATIVE_IMPORT = /^Projects cannot be imported by a relative or absolute path/;

const importing = (pkg: string) => `import * as m from '${pkg}';\nexport const y = m;\n`;

/** The one message the tag rule gives for `file` importing `pkg`. */
async function refusal(file: string, pkg: string): Promise<string> {
  const errs = await boundaryErrors(file, importing(pkg));
  expect(errs, `${file} importing ${pkg}`).toHaveLength(1);
  return errs[0];
}

interface Constraint {
  sourceTag: string;
  onlyDependOnLibsWithTags: string[];
}

/** The rule's options as ESLint resolves them for one file. */
async function ruleOptionsFor(file: string): Promise<{ depConstraints: Constraint[]; allow: string[] }> {
  const eslint = new ESLint({ cwd: root });
  const config = (await eslint.calculateConfigForFile(resolve(root, file))) as {
    rules: Record<string, [unknown, { depConstraints: Constraint[]; allow: string[] }]>;
  };
  return config.rules['@nx/enforce-module-boundaries'][1];
}

/** depConstraints as ESLint resolves them for one file. */
async function constraintsFor(file: string): Promise<Constraint[]> {
  return (await ruleOptionsFor(file)).depConstraints;
}

const LIBS = ['type:protocol', 'type:io', 'type:ml', 'type:lab'];
/** The apps' kits, the only imports of an app that e2e, benchmarks and scripts may make. */
const APP_KITS = [
  '@casam/coordinator/testing',
  '@casam/coordinator/testing/in-process',
  '@casam/site-agent/testing',
  '@casam/coordinator/release',
  '@casam/site-agent/release',
];

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

  it('forbids code that ships from loading a test kit, and lets its tests', async () => {
    const kitBan = (file: string, pkg: string) => lintMessages(file, importing(pkg), 'no-restricted-imports');
    // The tag rule lets an app use dicom and casam-core use protocol, kits included; this rule does not.
    expect((await kitBan('apps/site-agent/src/probe.ts', '@casam/dicom/testing')).join('\n')).toMatch(
      /not for code that ships/,
    );
    expect((await kitBan('libs/casam-core/src/probe.ts', '@casam/protocol/testing')).join('\n')).toMatch(
      /not for code that ships/,
    );
    expect(await kitBan('apps/site-agent/src/probe.spec.ts', '@casam/dicom/testing')).toEqual([]);
    expect(await kitBan('apps/site-agent/src/probe.testing.ts', '@casam/casam-core/testing')).toEqual([]);
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

  describe('benchmarks and scripts (Nx projects tagged type:bench and type:script)', () => {
    it("forbid importing an app's internals, by path or by package", async () => {
      expect(await refusal('bench/probe.ts', '../apps/coordinator/src/app.factory')).toMatch(RELATIVE_IMPORT);
      expect(await refusal('bench/probe.ts', '../apps/site-agent/src/serve/segmentation-server')).toMatch(
        RELATIVE_IMPORT,
      );
      expect(await refusal('scripts/probe.ts', '../apps/site-agent/src/version')).toMatch(RELATIVE_IMPORT);
      expect(await refusal('bench/probe.ts', '@casam/coordinator')).toMatch(APP_IMPORT);
      expect(await refusal('scripts/probe.ts', '@casam/site-agent')).toMatch(APP_IMPORT);
      // Through the package into src/: the deep-import ban and Nx both refuse it.
      expect(await refusal('bench/probe.ts', '@casam/site-agent/src/serve/segmentation-server')).toMatch(
        APP_IMPORT,
      );
    });

    it("forbid importing e2e's, each other's or their own folder's files from elsewhere", async () => {
      expect(await refusal('bench/probe.ts', '../e2e/src/support/coordinator-process')).toMatch(
        RELATIVE_IMPORT,
      );
      expect(await refusal('bench/probe.ts', '../scripts/pack-offline')).toMatch(RELATIVE_IMPORT);
      expect(await refusal('scripts/probe.ts', '../bench/kernels')).toMatch(RELATIVE_IMPORT);
      expect(await refusal('e2e/src/probe.ts', '../../bench/kernels')).toMatch(RELATIVE_IMPORT);
    });

    it('are not importable by a library or an app', async () => {
      expect(await refusal('libs/dicom/src/probe.ts', '../../../bench/kernels')).toMatch(RELATIVE_IMPORT);
      expect(await refusal('libs/casam-lab/src/probe.ts', '../../../scripts/pack-offline')).toMatch(
        RELATIVE_IMPORT,
      );
      expect(await refusal('apps/site-agent/src/probe.ts', '../../../bench/kernels')).toMatch(
        RELATIVE_IMPORT,
      );
    });

    it('use every library and, of the apps, exactly their kits', async () => {
      for (const file of ['bench/probe.ts', 'scripts/probe.ts', 'e2e/src/probe.ts']) {
        for (const pkg of [
          '@casam/protocol',
          '@casam/dicom',
          '@casam/dicom/testing',
          '@casam/casam-core',
          '@casam/casam-core/testing',
          '@casam/casam-lab',
          ...APP_KITS,
        ]) {
          expect(await boundaryErrors(file, importing(pkg)), `${file} importing ${pkg}`).toEqual([]);
        }
        const { depConstraints, allow } = await ruleOptionsFor(file);
        expect(allow).toEqual(APP_KITS.map((kit) => `^${kit}$`));
        const allowed = Object.fromEntries(
          depConstraints.map((c) => [c.sourceTag, c.onlyDependOnLibsWithTags]),
        );
        for (const tag of ['type:e2e', 'type:bench', 'type:script']) expect(allowed[tag]).toEqual(LIBS);
      }
      // The kits are lifted for these three folders only.
      for (const file of ['libs/casam-lab/src/probe.ts', 'apps/site-agent/src/probe.ts']) {
        expect((await ruleOptionsFor(file)).allow).toEqual([]);
      }
    });
  });

  describe("the site agent's tests (a real coordinator through its kit)", () => {
    it("may import the coordinator's test kit from spec and *.testing.ts files", async () => {
      for (const file of [
        'apps/site-agent/src/probe.spec.ts',
        'apps/site-agent/src/testing/probe.testing.ts',
        'apps/site-agent/src/use-cases/probe.spec.ts',
      ]) {
        expect(await boundaryErrors(file, importing('@casam/coordinator/testing')), file).toEqual([]);
        const { depConstraints, allow } = await ruleOptionsFor(file);
        expect(allow).toEqual(['^@casam/coordinator/testing$']);
        const allowed = Object.fromEntries(
          depConstraints.map((c) => [c.sourceTag, c.onlyDependOnLibsWithTags]),
        );
        expect(allowed['type:app']).toEqual(LIBS);
      }
    });

    it('are refused anything else of the coordinator, and its code that ships the kit too', async () => {
      // Code that ships: Nx's app-import check (no allow entry here) and the test-kit ban both refuse it.
      for (const file of ['apps/site-agent/src/probe.ts', 'apps/site-agent/src/commands/probe.ts']) {
        expect(await refusal(file, '@casam/coordinator/testing')).toMatch(APP_IMPORT);
        expect(
          (await lintMessages(file, importing('@casam/coordinator/testing'), 'no-restricted-imports')).join(
            '\n',
          ),
        ).toMatch(/not for code that ships/);
        expect((await ruleOptionsFor(file)).allow).toEqual([]);
      }
      // Tests: only that kit, anchored — not the coordinator's main entry nor another file of its kit folder.
      const spec = 'apps/site-agent/src/probe.spec.ts';
      expect(await refusal(spec, '@casam/coordinator')).toMatch(APP_IMPORT);
      expect(await refusal(spec, '@casam/coordinator/testing/test-database')).toMatch(APP_IMPORT);
      expect(await refusal(spec, '@casam/coordinator/testing/in-process')).toMatch(APP_IMPORT);
      // Lifted for the site agent only: the coordinator's own tests keep an empty allow list.
      expect((await ruleOptionsFor('apps/coordinator/src/probe.spec.ts')).allow).toEqual([]);
    });
  });

  // A subpath entry (a test kit) belongs to its package's project and is checked by that project's tags.
  it("checks the test kits' subpath entries by their package's tags", async () => {
    expect(await refusal('libs/casam-core/src/probe.ts', '@casam/dicom/testing')).toMatch(tagRule('type:ml'));
    expect(await refusal('libs/protocol/src/probe.ts', '@casam/dicom/testing')).toMatch(
      /project tagged with "type:protocol" cannot depend on any libs with tags/,
    );
    expect(await refusal('libs/dicom/src/probe.ts', '@casam/casam-core/testing')).toMatch(
      /project tagged with "type:io" cannot depend on any libs with tags/,
    );
    expect(await refusal('libs/dicom/src/probe.ts', '@casam/protocol/testing')).toMatch(
      /project tagged with "type:io" cannot depend on any libs with tags/,
    );
    // An app's kit from a library or another app: the kit is part of the app, and only e2e, bench and scripts
    // may import it.
    expect(await refusal('libs/casam-lab/src/probe.ts', '@casam/coordinator/testing')).toMatch(APP_IMPORT);
    expect(await refusal('apps/site-agent/src/probe.ts', '@casam/coordinator/testing')).toMatch(APP_IMPORT);
    // Only the listed kits are lifted: not an app's main entry, nor another file of its kit folder.
    expect(await refusal('e2e/src/probe.ts', '@casam/site-agent')).toMatch(APP_IMPORT);
    expect(await refusal('bench/probe.ts', '@casam/coordinator/testing/test-database')).toMatch(APP_IMPORT);
  });
});
