import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { ADMIN_UI_CSP, AdminUiAssets } from './admin-ui.assets';
import { ADMIN_UI_SOURCES } from './admin-ui.paths';

describe('admin UI static files (real app)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('redirects / and /admin to /admin/', async () => {
    for (const path of ['/', '/admin']) {
      const res = await fetch(`${t.url}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(302);
      expect(res.headers.get('location'), path).toBe('/admin/');
    }
  });

  it('serves the page without a token, with a strict CSP and the right content type', async () => {
    const res = await fetch(`${t.url}/admin/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(ADMIN_UI_CSP);
    expect(ADMIN_UI_CSP).toContain("script-src 'self'");
    expect(ADMIN_UI_CSP).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toContain('<script type="module" src="js/app.js">');
    // Nothing from elsewhere, nothing inline.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script(?![^>]*src=)[^>]*>/);
    expect(html).not.toMatch(/style=/);
  });

  it('serves modules as JavaScript and the socket.io client from the installed package', async () => {
    const js = await fetch(`${t.url}/admin/js/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const css = await fetch(`${t.url}/admin/app.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const vendor = await fetch(`${t.url}/admin/vendor/socket.io.esm.min.js`);
    expect(vendor.status).toBe(200);
    expect(await vendor.text()).toMatch(/export\{[^}]*as io\b/);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await fetch(`${t.url}/admin/js/app.js`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await fetch(`${t.url}/admin/js/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('answers 404 admin_ui_file_not_found for anything that is not one of its files, traversal included', async () => {
    for (const path of [
      '/admin/nope.js',
      '/admin/%2e%2e/admin-ui.module.ts',
      '/admin/..%2fadmin-ui.assets.ts',
      '/admin/js/../../admin-ui.controller.ts',
    ]) {
      const res = await fetch(`${t.url}${path}`);
      expect(res.status, path).toBe(404);
      if (res.headers.get('content-type')?.includes('json')) {
        const body = (await res.json()) as { error: { code: string; correlationId: string } };
        expect(body.error.correlationId).toBeTruthy();
      }
    }
    const res = await fetch(`${t.url}/admin/nope.js`);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('admin_ui_file_not_found');
  });

  it('keeps the UI out of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${t.url}/api/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/admin'))).toEqual([]);
  });
});

describe('admin UI modules', () => {
  const assets = new AdminUiAssets();
  const served = async (name: string) => (await assets.get(name))!.body.toString('utf8');
  /** The UI's own TypeScript sources (what esbuild bundles, ECharts aside), specs left out. */
  const sources = (readdirSync(ADMIN_UI_SOURCES, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
    .map((f) => [f, readFileSync(join(ADMIN_UI_SOURCES, f), 'utf8')] as const);

  it('every relative import of every module is a file the UI serves', async () => {
    const modules = (await assets.names()).filter((n) => n.endsWith('.js') && !n.startsWith('vendor/'));
    expect(modules).toEqual(['js/app.js']); // one bundle
    for (const name of modules) {
      const source = await served(name);
      const imports = [
        ...source.matchAll(/(?:^|[;}\n])\s*import\s*(?:[^'";]*?\sfrom\s*|[^'";]*?from)?['"]([^'"]+)['"]/g),
      ];
      expect(imports.map((m) => m[1])).toEqual(['../vendor/socket.io.esm.min.js']);
      for (const [, spec] of imports) {
        expect(spec, `${name} imports ${spec}`).toMatch(/^\.\.?\//); // no bare specifiers: the browser resolves none
        const target = posix.normalize(posix.join(posix.dirname(name), spec!));
        expect(await assets.get(target), `${name} imports ${spec}`).toBeDefined();
      }
      expect(source, name).not.toMatch(/\bimport\(/);
    }
  });

  it('no module writes markup from strings or loads anything from another origin', async () => {
    expect(sources.map(([f]) => f)).toContain('app.ts');
    for (const [name, source] of sources) {
      expect(source, name).not.toMatch(
        /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(/,
      );
      expect(source, name).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    }
    // The bundle (ECharts included) names no other origin: its only URLs are XML namespace names.
    const bundle = await served('js/app.js');
    expect(bundle).not.toMatch(
      /https?:\/\/(?!www\.w3\.org\/(2000\/svg|1999\/xlink|2000\/xmlns\/|XML\/1998\/namespace)["'])/,
    );
    expect(bundle).not.toMatch(/\beval\(|new Function\(|document\.write/);
  });
});
