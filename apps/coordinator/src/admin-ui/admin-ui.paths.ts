import { join } from 'node:path';

/** The UI's TypeScript sources (browser code with its own tsconfig; a checkout bundles them on first use). */
export const ADMIN_UI_SOURCES = join(__dirname, 'web');
/** The prebuilt script of an offline install, which ships it instead of the sources (the checkout has none). */
export const ADMIN_UI_PREBUILT = join(__dirname, 'dist', 'app.js');
/** Where the script is served, relative to /admin/ (index.html loads it). */
export const ADMIN_UI_SCRIPT = 'js/app.js';
