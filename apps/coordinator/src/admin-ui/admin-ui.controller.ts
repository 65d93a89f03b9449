import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Public } from '../auth/auth.decorators';
import { NotFoundError } from '../common/domain-error';
import { ADMIN_UI_CSP, ADMIN_UI_PATH, AdminUiAssets } from './admin-ui.assets';

/**
 * Serves the admin web UI's static files at /admin/. Public on purpose: the files hold no data; every datum
 * comes from the API with the admin's token, which the guard checks there.
 */
@Public()
@ApiExcludeController()
@Controller()
export class AdminUiController {
  constructor(private readonly assets: AdminUiAssets) {}

  /** Nothing else lives at the root: send browsers to the UI. */
  @Get()
  root(@Res() res: ServerResponse): void {
    redirect(res, ADMIN_UI_PATH);
  }

  // Express matches `admin` with and without the trailing slash: only the bare form is redirected, so that
  // relative URLs in the page resolve under /admin/.
  @Get(['admin', 'admin/{*path}'])
  async file(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (pathname === '/admin') return redirect(res, ADMIN_UI_PATH);
    const asset = await this.assets.get(pathname.slice(ADMIN_UI_PATH.length));
    if (!asset) throw new NotFoundError('admin_ui_file_not_found', `no admin UI file at ${pathname}`);
    res.setHeader('content-security-policy', ADMIN_UI_CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('cache-control', 'no-cache'); // revalidate: a new coordinator release changes the files
    res.setHeader('etag', asset.etag);
    if (req.headers['if-none-match'] === asset.etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('content-type', asset.contentType);
    res.setHeader('content-length', asset.body.length);
    res.statusCode = 200;
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}

function redirect(res: ServerResponse, to: string): void {
  res.statusCode = 302;
  res.setHeader('location', to);
  res.end();
}
