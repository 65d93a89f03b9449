import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** What every library of ours is tagged; e2e, benchmarks and scripts may use all of them. */
const LIBS = ['type:protocol', 'type:io', 'type:ml', 'type:lab'];

/**
 * The apps' kits, the one way into an app from e2e, benchmarks and scripts. An app is an Nx application, and Nx
 * refuses every import of one before it looks at tags; `allow` lifts exactly these imports, and only in the
 * configuration of e2e/, bench/ and scripts/ below, so a library or an app importing a kit still fails.
 */
const APP_KITS = [
  '@casam/coordinator/testing',
  '@casam/coordinator/testing/in-process',
  '@casam/site-agent/testing',
  // What the offline packer needs of each app (its version, the admin UI bundler, the ONNX export).
  '@casam/coordinator/release',
  '@casam/site-agent/release',
];

/**
 * The other app's kits the site agent's tests may use: its use-case specs run in-process against a real
 * coordinator process (apps/site-agent/src/testing/coordinator-site.testing.ts). Lifted for the site agent's
 * spec and *.testing.ts files only, anchored like APP_KITS; its code that ships still may not import them.
 */
const SITE_AGENT_TEST_KITS = ['@casam/coordinator/testing'];

/** An exact package name as an `allow` entry: Nx reads a plain one as an unanchored regular expression. */
const exactly = (pkg) => `^${pkg}$`;

/**
 * The tag rule; `app` lists what an app's files may import (its tests may also use the lab); `allow` the imports
 * it does not check at all.
 */
const boundaries = (app, allow = []) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow,
    depConstraints: [
      { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: [] },
      // DICOM in/out: depends on no library of ours (it knows pixels, masks and tags, not CA-SAM).
      { sourceTag: 'type:io', onlyDependOnLibsWithTags: [] },
      { sourceTag: 'type:ml', onlyDependOnLibsWithTags: ['type:protocol'] },
      { sourceTag: 'type:lab', onlyDependOnLibsWithTags: ['type:protocol', 'type:ml'] },
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: app },
      // Tests across processes, benchmarks and scripts may use every library, through entry points (and the
      // apps' test kits, see APP_KITS); never an app's or each other's files.
      ...['type:e2e', 'type:bench', 'type:script'].map((sourceTag) => ({
        sourceTag,
        onlyDependOnLibsWithTags: LIBS,
      })),
    ],
  },
];

/** Libraries are used through their entry points only (src/index.ts, and their `/testing` kits). */
const DEEP_IMPORT = {
  group: ['@casam/*/src', '@casam/*/src/**'],
  message: 'Import the package entry point (@casam/<name>), not a file inside it.',
};

export default [
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.nx/**',
      'tmp/**',
      'bench/results/**',
      'e2e/artifacts/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
      'no-restricted-imports': ['error', { patterns: [DEEP_IMPORT] }],
      // The architecture, enforced: apps may use libs but not the lab; casam-core only protocol; protocol nothing.
      '@nx/enforce-module-boundaries': boundaries(['type:protocol', 'type:io', 'type:ml']),
    },
  },
  // What ships to a hospital (the apps' and product libraries' non-test files) loads no test kit: a kit entry is
  // checked by its package's tags like the main entry, so the tag rule alone would let an app load dicom's.
  {
    files: [
      'apps/*/src/**/*.ts',
      'libs/protocol/src/**/*.ts',
      'libs/dicom/src/**/*.ts',
      'libs/casam-core/src/**/*.ts',
    ],
    ignores: ['**/*.spec.ts', '**/*.testing.ts', '**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            DEEP_IMPORT,
            {
              group: ['@casam/*/testing', '@casam/*/testing/**', '@casam/*/release'],
              message: 'Test kits are for tests, benchmarks and scripts, not for code that ships.',
            },
          ],
        },
      ],
    },
  },
  // Tests of the apps may draw synthetic data from the lab; what ships (non-test files) may not.
  {
    files: ['apps/**/*.spec.ts', 'apps/**/*.testing.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(LIBS),
    },
  },
  // The site agent's tests may also start a real coordinator through its kit (SITE_AGENT_TEST_KITS).
  {
    files: ['apps/site-agent/src/**/*.spec.ts', 'apps/site-agent/src/**/*.testing.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(LIBS, SITE_AGENT_TEST_KITS.map(exactly)),
    },
  },
  // e2e, benchmarks and scripts: every library, and of the apps only their test kits.
  {
    files: ['e2e/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      // Nx reads a plain `allow` entry as an unanchored regular expression (`@casam/coordinator/testing` would also
      // let `@casam/coordinator/testing/test-database` through), hence the anchors.
      '@nx/enforce-module-boundaries': boundaries(
        ['type:protocol', 'type:io', 'type:ml'],
        APP_KITS.map(exactly),
      ),
    },
  },
];
