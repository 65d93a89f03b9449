#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step): tsx compiles them on load.
require('tsx/cjs');
const { main } = require('../src/main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error('site-agent: internal error (this is a bug):', err);
    process.exit(1);
  },
);
