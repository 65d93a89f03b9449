import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { ADMIN_UI_PREBUILT, ADMIN_UI_SCRIPT, ADMIN_UI_SOURCES } from './admin-ui.paths';

/** Where the UI's static files live (the page and its styles, served as they are). */
export const ADMIN_UI_ROOT = join(__dirname, 'public');
/** URL prefix of the UI. */
export const ADMIN_UI_PATH = '/admin/';

/**
 * The policy every UI response carries: only this origin's scripts, styles, images and connections (REST
 * and socket.io), no inline script or style, no framing, no plugins, forms and base URI locked.
 */
export const ADMIN_UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

export interface AdminUiAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/**
 * The UI's files, held in memory (about 0.6 MiB): a request can only ever get one of these, so no path from a
 * URL touches the file system. The static files are read at start; the script `js/app.js` is bundled from
 * the TypeScript sources on first use, or read prebuilt in an offline install (see admin-ui.bundle.ts). The
 * socket.io browser client (ESM build) comes from the installed `socket.io-client` package as
 * `vendor/socket.io.esm.min.js`.
 */
export class AdminUiAssets {
  private readonly files = new Map<string, AdminUiAsset>();
  private script: Promise<void> | null = null;

  constructor(
    root: string = ADMIN_UI_ROOT,
    /** Builds the script from its sources; the default is esbuild, loaded only when there are sources. */
    private readonly bundle: () => Promise<Buffer> = bundleFromSources,
  ) {
    for (const file of walk(root)) this.add(relative(root, file).split(sep).join('/'), file);
    const client = join(
      dirname(require.resolve('socket.io-client/package.json')),
      'dist',
      'socket.io.esm.min.js',
    );
    this.add('vendor/socket.io.esm.min.js', client);
    if (!existsSync(ADMIN_UI_SOURCES) && !existsSync(ADMIN_UI_PREBUILT))
      throw new Error(`the admin UI has neither its sources (${ADMIN_UI_SOURCES}) nor ${ADMIN_UI_PREBUILT}`);
  }

  /** `name` relative to /admin/ ("" is the index page); undefined when there is no such file. */
  async get(name: string): Promise<AdminUiAsset | undefined> {
    if (name === ADMIN_UI_SCRIPT) await this.ready();
    return this.files.get(name === '' ? 'index.html' : name);
  }

  /** Every file, the script included (bundled first if need be). */
  async names(): Promise<string[]> {
    await this.ready();
    return [...this.files.keys()].sort();
  }

  /** Bundles (or reads) the script once; a failed build is tried again on the next request. */
  private ready(): Promise<void> {
    this.script ??= (async () => {
      const body = existsSync(ADMIN_UI_SOURCES) ? await this.bundle() : readFileSync(ADMIN_UI_PREBUILT);
      this.put(ADMIN_UI_SCRIPT, body, CONTENT_TYPES['.js']!);
    })().catch((e: unknown) => {
      this.script = null;
      throw e;
    });
    return this.script;
  }

  private add(name: string, path: string): void {
    const contentType = CONTENT_TYPES[extname(path)];
    if (!contentType) return; // editor leftovers and the like are not served
    this.put(name, readFileSync(path), contentType);
  }

  private put(name: string, body: Buffer, contentType: string): void {
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    this.files.set(name, { body, contentType, etag });
  }
}

async function bundleFromSources(): Promise<Buffer> {
  // Not imported at the top: an offline install ships the prebuilt script and neither this module nor esbuild.
  const { bundleAdminUi } = await import('./admin-ui.bundle');
  return bundleAdminUi();
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
