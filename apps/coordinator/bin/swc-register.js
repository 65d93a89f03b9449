'use strict';
// Lets Node run the coordinator's TypeScript directly, with no build step. SWC compiles each .ts file on
// require, emitting decorator metadata (NestJS dependency injection reads constructor parameter types from it;
// tsx/esbuild cannot emit it). Source maps are inline, so stack traces point at the .ts lines.
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

const options = {
  swcrc: false,
  configFile: false,
  sourceMaps: 'inline',
  module: { type: 'commonjs' },
  jsc: {
    target: 'es2022',
    keepClassNames: true,
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: true },
  },
};

process.setSourceMapsEnabled(true);

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { ...options, filename });
  module._compile(code, filename);
};
