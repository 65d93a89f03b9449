/**
 * Builds the admin UI's one script, js/app.js, from its TypeScript sources in web/ with esbuild: ES modules for
 * the browser, minified, ECharts tree-shaken to the parts the UI imports, nothing fetched at run time. The
 * socket.io client stays a separate file (vendor/socket.io.esm.min.js, served from the installed package).
 *
 * Where it runs: in a checkout, the coordinator builds the bundle in memory the first time the UI is asked for
 * (about a second; admin-ui.assets.ts), so the UI always matches its sources and no generated file is kept in
 * git or can go stale; esbuild and echarts come with `npm ci`. The offline bundle (scripts/pack-offline.ts) runs
 * this at pack time and ships the result as dist/app.js instead of the sources, so a hospital installs neither.
 */
import { join } from 'node:path';
import type { Plugin } from 'esbuild';
import { ADMIN_UI_SOURCES } from './admin-ui.paths';

/** `socket.io-client` is not bundled: the page loads the coordinator's copy of its ESM build. */
const socketIoFromVendor: Plugin = {
  name: 'socket.io-client-from-vendor',
  setup(build) {
    build.onResolve({ filter: /^socket\.io-client$/ }, () => ({
      path: '../vendor/socket.io.esm.min.js',
      external: true,
    }));
  },
};

const BANNER =
  '/* CA-SAM Federation admin UI. Bundles Apache ECharts (Apache-2.0), ZRender (BSD-3-Clause) and tslib ' +
  '(0BSD); their licence texts ship in their npm packages. */';

export async function bundleAdminUi(): Promise<Buffer> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(ADMIN_UI_SOURCES, 'app.ts')],
    tsconfig: join(ADMIN_UI_SOURCES, 'tsconfig.json'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    banner: { js: BANNER },
    // ECharts' development warnings are compiled out, as in its own production build.
    define: { 'process.env.NODE_ENV': '"production"', __DEV__: 'false' },
    charset: 'utf8',
    plugins: [socketIoFromVendor],
    write: false,
    logLevel: 'silent',
  });
  const [out] = result.outputFiles;
  if (!out) throw new Error('esbuild produced no admin UI bundle');
  return Buffer.from(out.contents);
}
