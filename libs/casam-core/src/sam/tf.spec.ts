import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../../../..');

describe('tfjs-core gradients', () => {
  it('are not loaded by importing the library, and are registered by ensureGradients (in a fresh process)', () => {
    // Outside Vitest (whose setup registers them): the library alone, as the site agent loads it.
    const script = `
      require('tsx/cjs');
      const core = require('./libs/casam-core/src/index.ts');
      const before = core.tf.getGradient('Abs') !== undefined;
      core.ensureGradients();
      core.ensureGradients();
      console.log(JSON.stringify({ before, after: core.tf.getGradient('Conv2D') !== undefined }));`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ before: false, after: true });
  });
});
