import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';

/** Where the UI's static files live (served as they are: no build step). */
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
 * The UI's files, read once at start into memory (a few dozen KiB): a request can only ever get one of these,
 * so no path from a URL touches the file system. The socket.io browser client (ESM build) comes from the
 * installed `socket.io-client` package as `vendor/socket.io.esm.min.js`.
 */
export class AdminUiAssets {
  private readonly files = new Map<string, AdminUiAsset>();

  constructor(root: string = ADMIN_UI_ROOT) {
    for (const file of walk(root)) this.add(relative(root, file).split(sep).join('/'), file);
    const client = join(
      dirname(require.resolve('socket.io-client/package.json')),
      'dist',
      'socket.io.esm.min.js',
    );
    this.add('vendor/socket.io.esm.min.js', client);
  }

  /** `name` relative to /admin/ ("" is the index page); undefined when there is no such file. */
  get(name: string): AdminUiAsset | undefined {
    return this.files.get(name === '' ? 'index.html' : name);
  }

  names(): string[] {
    return [...this.files.keys()].sort();
  }

  private add(name: string, path: string): void {
    const contentType = CONTENT_TYPES[extname(path)];
    if (!contentType) return; // editor leftovers and the like are not served
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    this.files.set(name, { body, contentType, etag });
  }
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
