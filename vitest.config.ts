import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import swc from 'unplugin-swc';

// One runner for the whole repo. SWC compiles tests so NestJS decorator metadata works.
const project = (name: string, root: string, extra: Record<string, unknown> = {}) => ({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    name,
    root,
    include: ['**/*.spec.ts'],
    environment: 'node',
    testTimeout: 60_000,
    // tfjs-core's gradients, registered lazily outside tests (see the file).
    setupFiles: [resolve(__dirname, 'tools/vitest-gradients.ts')],
    ...extra,
  },
});

export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default', './tools/plain-summary-reporter.ts'],
    projects: [
      project('protocol', 'libs/protocol'),
      project('dicom', 'libs/dicom'),
      project('casam-core', 'libs/casam-core'),
      project('casam-lab', 'libs/casam-lab'),
      project('site-agent', 'apps/site-agent'),
      project('bench', 'bench'),
      // Starts a throwaway Postgres cluster and migrated templates once per run (see the setup file).
      project('coordinator', 'apps/coordinator', {
        globalSetup: ['./testing/global-setup.ts'],
        testTimeout: 120_000,
        hookTimeout: 60_000,
      }),
      // Starts a throwaway Postgres cluster for coordinator processes that ask for one (see the setup file).
      project('e2e', 'e2e', {
        globalSetup: ['./src/support/global-setup.ts'],
        testTimeout: 300_000,
        hookTimeout: 120_000,
      }),
    ],
  },
});
