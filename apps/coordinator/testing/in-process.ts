// `@casam/coordinator/testing/in-process`: the coordinator's own parts that bench:coordinator drives in one
// process (the app on an embedded database, a blob store, the bundle builder, rows seeded as the upload module
// leaves them). Apart from the main kit because it loads the whole NestJS app, and needs decorator metadata
// (run it under apps/coordinator/bin/swc-register.js, as `npm run bench:coordinator` does).
export { createCoordinatorApp } from '../src/app.factory';
export { BlobRepository } from '../src/blobs/blob.repository';
export { BlobStore } from '../src/blobs/blob-store';
export { FsBlobStore } from '../src/blobs/fs-blob-store';
export { BundleBuilderService } from '../src/bundles/bundle-builder.service';
export { parseConfig } from '../src/config/coordinator-config';
export { EmbeddedDatabase } from '../src/database/embedded-database';
export { migrateDeploy } from '../src/database/migrator';
export { seedAdapter, seedAdminAndSite, seedTask } from './bundle-test-data';
