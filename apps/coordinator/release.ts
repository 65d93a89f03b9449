// `@casam/coordinator/release`: what the offline packer (scripts/pack-offline.ts) needs of the coordinator: the
// version it stamps on the bundle, and the admin UI's bundler and where its output goes (the bundle ships the
// built script, not its TypeScript sources). The bundler is loaded on call (it pulls in esbuild).
import type { bundleAdminUi as BundleAdminUi } from './src/admin-ui/admin-ui.bundle';

export { ADMIN_UI_PREBUILT } from './src/admin-ui/admin-ui.paths';
export { COORDINATOR_VERSION } from './src/version';

export async function bundleAdminUi(): ReturnType<typeof BundleAdminUi> {
  const m = await import('./src/admin-ui/admin-ui.bundle');
  return m.bundleAdminUi();
}
