#!/usr/bin/env node
'use strict';
// `coordinator [serve|migrate|create-admin ...]`: runs the TypeScript sources directly (see swc-register.js).
require('./swc-register');
require('../src/database/prisma-client-generation.ts').ensurePrismaClient();
const { main } = require('../src/cli.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error('coordinator: internal error (this is a bug):', err);
    process.exit(1);
  },
);
