import { Module } from '@nestjs/common';
import { AdminUiAssets } from './admin-ui.assets';
import { AdminUiController } from './admin-ui.controller';

/** The admin web UI: static files at /admin/, data from the REST API and socket.io. */
@Module({
  controllers: [AdminUiController],
  providers: [{ provide: AdminUiAssets, useFactory: () => new AdminUiAssets() }],
})
export class AdminUiModule {}
