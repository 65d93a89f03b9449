import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

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
      // The architecture, enforced: apps may use libs; casam-core only protocol; protocol nothing.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:ml', onlyDependOnLibsWithTags: ['type:protocol'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:protocol', 'type:ml'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:protocol', 'type:ml', 'type:app'] },
          ],
        },
      ],
    },
  },
];
