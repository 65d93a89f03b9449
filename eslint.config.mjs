import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** The tag rule; `app` lists what an app's files may import (its tests may also use the lab). */
const boundaries = (app) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: [] },
      // DICOM in/out: depends on no library of ours (it knows pixels, masks and tags, not CA-SAM).
      { sourceTag: 'type:io', onlyDependOnLibsWithTags: [] },
      { sourceTag: 'type:ml', onlyDependOnLibsWithTags: ['type:protocol'] },
      { sourceTag: 'type:lab', onlyDependOnLibsWithTags: ['type:protocol', 'type:ml'] },
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: app },
      // Tests across processes, benchmarks and scripts may use everything, through entry points.
      ...['type:e2e', 'type:bench', 'type:script'].map((sourceTag) => ({
        sourceTag,
        onlyDependOnLibsWithTags: ['type:protocol', 'type:io', 'type:ml', 'type:lab', 'type:app'],
      })),
    ],
  },
];

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
      // Libraries are used through their entry points only (src/index.ts, and casam-core's `/testing` kit).
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@casam/*/src', '@casam/*/src/**'],
              message: 'Import the package entry point (@casam/<name>), not a file inside it.',
            },
          ],
        },
      ],
      // The architecture, enforced: apps may use libs but not the lab; casam-core only protocol; protocol nothing.
      '@nx/enforce-module-boundaries': boundaries(['type:protocol', 'type:io', 'type:ml']),
    },
  },
  // Tests of the apps may draw synthetic data from the lab; what ships (non-test files) may not.
  {
    files: ['apps/**/*.spec.ts', 'apps/**/*.testing.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(['type:protocol', 'type:io', 'type:ml', 'type:lab']),
    },
  },
];
